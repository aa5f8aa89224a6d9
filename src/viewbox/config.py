"""Settings: defaults < TOML file < VIEWBOX_* environment < CLI flags, validated once at start.

A bad setting stops the start with one message listing every problem (ConfigError), so a user
fixes the file in one pass instead of discovering the problems one restart at a time.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DATA_FOLDER_NAME = "Viewbox Data"
RETRIEVE_MODES = ("C-MOVE", "C-GET", "DICOMweb")
# The words for yes and no, any case: boolean settings, control-API parameters and UI flags.
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "off"})


def default_data_root() -> Path:
    """The user's data directory (XDG on Linux), which holds `Viewbox Data/`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "viewbox"


@dataclass(frozen=True)
class Location:
    """A remote DICOM node the workstation queries, retrieves from and sends to."""

    name: str
    ae_title: str
    host: str
    port: int
    retrieve_mode: str = "C-MOVE"
    dicomweb_url: str | None = None


@dataclass(frozen=True)
class Settings:
    """Every setting of the workstation; one immutable object passed where it is needed."""

    data_root: Path = field(default_factory=default_data_root)
    host: str = "127.0.0.1"
    port: int = 8080
    dicom_port: int = 11112
    aet: str = "VIEWBOX"
    database_url: str | None = None
    plugins_dir: Path | None = None
    # control API
    max_body_bytes: int = 1024 * 1024
    close_all_before_open: bool = True
    conventional_precedence: bool = False
    allowed_db_roots: tuple[str, ...] = ()
    retrieve_on_display: tuple[str, ...] = ()
    # security
    token: str | None = None
    basic_users: Mapping[str, str] = field(default_factory=dict)
    allow_clients: tuple[str, ...] = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    remote_methods: tuple[str, ...] = ()
    # per user (a Basic user name, or "token" for the bearer token / UI sign-in): more
    # destructive permissions allowed from other computers than `remote_methods` gives everyone
    user_methods: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    audit_log: Path | None = None
    # hardening (issue 10): destructive methods over GET (RIS programs call them so; false
    # refuses them, for sites whose RIS POSTs), sign-in throttling, slow and idle HTTP connections
    destructive_over_get: bool = True
    sign_in_attempts: int = 5  # wrong tokens or passwords per client address and minute
    http_request_timeout: float = 10.0  # seconds to send a request's line and headers
    # DICOM node
    dicom_enabled: bool = True
    # "auto": "any" while the workstation listens on loopback without a token or Basic users,
    # else "known" (the Locations' AE titles and calling_aets); or "any", or "known"
    accept_calling_aets: str = "auto"
    calling_aets: tuple[str, ...] = ()
    dicom_max_associations: int = 32
    dicom_associate_timeout: float = 5.0  # seconds a new connection has to request an association
    dicom_tuning: bool = True  # false: stock pynetdicom on accepted associations (dicom/tuning.py)
    locations: tuple[Location, ...] = ()
    # downloads and zips
    download_max_bytes: int = 2 * 1024**3
    download_timeout: float = 240.0
    zip_max_entries: int = 100_000
    zip_max_unpacked_bytes: int = 8 * 1024**3
    # viewers: volumes (MPR, MIP) kept in memory, oldest dropped first beyond this
    volume_cache_mb: int = 1024
    # DICOMweb server (/dicom-web, /wado)
    dicomweb_max_stow_bytes: int = 4 * 1024**3
    dicomweb_cors_origins: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return self.data_root / DATA_FOLDER_NAME

    def location(self, name: str) -> Location | None:
        """The Location with exactly that name (OsiriX looks nodes up by exact description)."""
        return next((loc for loc in self.locations if loc.name == name), None)


_FIELDS = {f.name: f for f in fields(Settings)}
_PATHS = {"data_root", "plugins_dir", "tls_cert", "tls_key", "audit_log"}
_INTS = {"dicom_max_associations", "port", "dicom_port", "max_body_bytes", "download_max_bytes", "zip_max_entries",
         "zip_max_unpacked_bytes", "volume_cache_mb", "dicomweb_max_stow_bytes", "sign_in_attempts"}
_FLOATS = {"download_timeout", "dicom_associate_timeout", "http_request_timeout"}
_BOOLS = {"close_all_before_open", "conventional_precedence", "dicom_enabled", "dicom_tuning",
          "destructive_over_get"}
_LISTS = {"allowed_db_roots", "retrieve_on_display", "allow_clients", "allowed_hosts",
          "allowed_origins", "remote_methods", "calling_aets", "dicomweb_cors_origins"}


def _flatten_toml(doc: Mapping[str, Any]) -> dict[str, Any]:
    """TOML may group keys in tables ([server], [security], [dicom] …); names are global."""
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict) and key not in ("basic_users", "user_methods"):
            flat.update(_flatten_toml(value))
        else:
            flat[key] = value
    return flat


def _coerce(name: str, value: Any, problems: list[str]) -> Any:
    """Turn a raw value (TOML, environment string or CLI) into the field's type."""
    try:
        if value is None:
            return None
        if name in _PATHS:
            return Path(os.path.expanduser(str(value)))
        if name in _INTS:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if name in _FLOATS:
            return float(value)
        if name in _BOOLS:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in TRUE_WORDS:
                return True
            if text in FALSE_WORDS:
                return False
            raise ValueError
        if name in _LISTS:
            if isinstance(value, str):
                return tuple(part.strip() for part in value.split(",") if part.strip())
            return tuple(str(part) for part in value)
        if name == "basic_users":
            if isinstance(value, str):  # env form: "user:pass,user2:pass2"
                pairs = [item.split(":", 1) for item in value.split(",") if item]
                return {user: password for user, password in pairs}
            return {str(k): str(v) for k, v in dict(value).items()}
        if name == "user_methods":
            if isinstance(value, str):  # env form: "user:PermA|PermB,user2:PermC"
                pairs = [item.split(":", 1) for item in value.split(",") if item.strip()]
                value = {user.strip(): permissions.split("|") for user, permissions in pairs}
            return {str(user): tuple(str(p).strip() for p in ([permissions] if isinstance(permissions, str)
                                                             else permissions) if str(p).strip())
                    for user, permissions in dict(value).items()}
        if name == "locations":
            return tuple(_location(item, problems) for item in value)
        return str(value)
    except (TypeError, ValueError):
        problems.append(f"{name}: {value!r} is not a valid value")
        return _FIELDS[name].default if not callable(_FIELDS[name].default_factory) else None


def _location(item: Mapping[str, Any], problems: list[str]) -> Location:
    item = {str(k).lower(): v for k, v in dict(item).items()}
    name = str(item.get("name", ""))
    mode = str(item.get("retrieve_mode", "C-MOVE"))
    if not name:
        problems.append("locations: every location needs a name")
    if mode not in RETRIEVE_MODES:
        problems.append(f"locations.{name}: retrieve_mode must be one of {', '.join(RETRIEVE_MODES)}")
    try:
        port = int(item.get("port", 104))
    except (TypeError, ValueError):
        problems.append(f"locations.{name}: port must be a number")
        port = 0
    return Location(
        name=name,
        ae_title=str(item.get("ae_title") or item.get("aet") or ""),
        host=str(item.get("host", "127.0.0.1")),
        port=port,
        retrieve_mode=mode,
        dicomweb_url=item.get("dicomweb_url"),
    )


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build validated Settings from the three layers; raise ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, Any] = {}
    config_file = config_file or (Path(environ["VIEWBOX_CONFIG"]) if environ.get("VIEWBOX_CONFIG") else None)
    if config_file is not None:
        try:
            raw.update(_flatten_toml(tomllib.loads(Path(config_file).read_text("utf-8"))))
        except FileNotFoundError:
            problems.append(f"config file {config_file} does not exist")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"config file {config_file}: {exc}")
    for name in _FIELDS:
        env_value = environ.get(f"VIEWBOX_{name.upper()}")
        if env_value is not None and name != "locations":
            raw[name] = env_value
    for name, value in (overrides or {}).items():
        if value is not None:
            raw[name] = value
    for name in list(raw):
        if name not in _FIELDS:
            problems.append(f"unknown setting {name!r}")
            del raw[name]
    values = {name: _coerce(name, value, problems) for name, value in raw.items()}
    settings = replace(Settings(), **{k: v for k, v in values.items() if v is not None or k in _PATHS})
    problems.extend(validate(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this computer: `localhost` or a loopback address."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def accepted_calling_aets(settings: Settings) -> list[str] | None:
    """The calling AE titles the DICOM node accepts, or None for any.

    AE titles are not secret (they travel in clear and any peer may claim one), so this only
    keeps strangers out by mistake, not an attacker: see docs/dicom.md, "What protects the DICOM port".
    """
    policy = settings.accept_calling_aets
    if policy == "auto":
        open_to_others = not is_loopback(settings.host) or settings.token or settings.basic_users
        policy = "known" if open_to_others else "any"
    if policy == "any":
        return None
    return list(dict.fromkeys([loc.ae_title for loc in settings.locations if loc.ae_title]
                              + list(settings.calling_aets)))


def validate(settings: Settings) -> list[str]:
    """Every problem with a Settings object (empty when it is fine)."""
    problems = []
    for name in ("port", "dicom_port"):
        value = getattr(settings, name)
        if not 0 <= value <= 65535:
            problems.append(f"{name}: {value} is not a TCP port")
    if not (1 <= len(settings.aet) <= 16) or not settings.aet.isprintable() or "\\" in settings.aet:
        problems.append(f"aet: {settings.aet!r} must be 1 to 16 printable characters")
    if settings.database_url and not settings.database_url.startswith(("sqlite", "postgresql")):
        problems.append("database_url: only sqlite:// and postgresql:// URLs are supported")
    if bool(settings.tls_cert) != bool(settings.tls_key):
        problems.append("tls_cert and tls_key must be given together")
    for name in ("tls_cert", "tls_key", "plugins_dir"):
        path = getattr(settings, name)
        if path is not None and not path.exists():
            problems.append(f"{name}: {path} does not exist")
    for cidr in settings.allow_clients:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"allow_clients: {cidr!r} is not an address or CIDR network")
    if settings.accept_calling_aets not in ("auto", "any", "known"):
        problems.append("accept_calling_aets must be 'auto', 'any' or 'known'")
    if settings.dicom_max_associations < 1:
        problems.append("dicom_max_associations must be at least 1")
    if not 0 < settings.dicom_associate_timeout <= 600:
        problems.append("dicom_associate_timeout must be between 0 and 600 seconds")
    names = [loc.name for loc in settings.locations]
    for name in set(names):
        if names.count(name) > 1:
            problems.append(f"locations: the name {name!r} is used twice")
    for name in settings.retrieve_on_display:
        if name not in names:
            problems.append(f"retrieve_on_display: {name!r} is not a configured location")
    if not is_loopback(settings.host) and not (
        settings.token or settings.basic_users or settings.allow_clients
    ):
        problems.append(
            f"host: refusing to listen on {settings.host} without authentication: configure a "
            "token, basic_users or allow_clients (or listen on 127.0.0.1)"
        )
    if settings.max_body_bytes <= 0:
        problems.append("max_body_bytes must be positive")
    if settings.sign_in_attempts < 1 or settings.http_request_timeout <= 0:
        problems.append("sign_in_attempts and http_request_timeout must be positive")
    for user in settings.user_methods:
        if user not in settings.basic_users and not (user == "token" and settings.token):
            problems.append(f"user_methods: {user!r} is neither a basic_users name nor 'token' "
                            "(with a token configured)")
    return problems

"""CLI commands of the control layer: `viewbox url` and `viewbox url-handler install`.

`viewbox url 'osirix://?methodName=…'` is what the desktop runs for an osirix://, horos:// or
viewbox:// link: it parses the URL as Horos does and forwards the call to the local server's JSON
mirror. As in OsiriX the link's caller gets no answer (`--print` shows it, for scripts and tests).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import click

from ..errors import BadRequest

SCHEMES = ("osirix", "horos", "viewbox")
DESKTOP_FILE = "viewbox-url.desktop"


def local_base_url(settings) -> str:
    """The local server's base URL from the settings (a wildcard bind is reached on loopback)."""
    host = settings.host
    if host in ("", "0.0.0.0", "::") or not _is_local_host(host):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.port}"


def _is_local_host(host: str) -> bool:
    from ..config import is_loopback

    return is_loopback(host)


def auth_headers(settings) -> dict[str, str]:
    """Credentials for the local server, from the same settings it runs with."""
    if settings.token:
        return {"Authorization": f"Bearer {settings.token}"}
    if settings.basic_users:
        import base64

        user, password = next(iter(settings.basic_users.items()))
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    return {}


def forward(url: str, base_url: str, headers: dict[str, str], timeout: float = 30.0) -> tuple[int, dict]:
    """Parse a scheme URL and call its method on the server at `base_url`: (status, reply)."""
    import httpx

    from .urls import parse_scheme_url, pop_method_name

    params = parse_scheme_url(url)
    name = pop_method_name(params)
    response = httpx.post(f"{base_url}/api/methods/{name}", json=params, timeout=timeout,
                          headers={**headers, "X-Viewbox-Via": "url-scheme"},
                          verify=not base_url.startswith("https://127.0.0.1"))
    try:
        reply = response.json()
    except ValueError:
        reply = {"error": str(response.status_code), "message": response.text[:200]}
    return response.status_code, reply


def register(group: click.Group, settings_from) -> None:
    """Add this layer's commands to `group`; `settings_from(config_file, **overrides)` is the
    CLI's settings loader (it reports configuration errors and exits)."""

    @group.command("url")
    @click.argument("url")
    @click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML settings file.")
    @click.option("--port", type=int, help="Port of the local server (default: the settings' port).")
    @click.option("--server", help="Base URL of the server (default: the local one).")
    @click.option("--print", "show", is_flag=True, help="Print the server's reply as JSON.")
    def url_command(url, config_file, port, server, show) -> None:
        """Run an osirix://, horos:// or viewbox:// URL on the local workstation."""
        settings = settings_from(config_file, port=port)
        base = (server or local_base_url(settings)).rstrip("/")
        try:
            status, reply = forward(url, base, auth_headers(settings))
        except BadRequest as exc:
            click.echo(f"viewbox url: {exc.message}", err=True)
            sys.exit(2)
        except Exception as exc:  # noqa: BLE001 - OSError and httpx transport errors alike
            click.echo(f"viewbox url: cannot reach the workstation at {base}: {exc}", err=True)
            sys.exit(1)
        if show:
            click.echo(json.dumps(reply, ensure_ascii=False))
        if status >= 400:
            click.echo(f"viewbox url: {reply.get('message', status)}", err=True)
            sys.exit(1)

    @group.group("url-handler")
    def url_handler() -> None:
        """Register `viewbox url` as the desktop's handler for osirix://, horos://, viewbox://."""

    @url_handler.command("install")
    @click.option("--applications-dir", type=click.Path(path_type=Path),
                  help="Where to write the .desktop file (default ~/.local/share/applications).")
    @click.option("--system", "system_name", help="Act as on this system (Linux, Darwin, Windows).")
    def install(applications_dir, system_name) -> None:
        """Install the URL-scheme handler (Linux: XDG; macOS, Windows: print the steps)."""
        system_name = system_name or platform.system()
        command = viewbox_command()
        if system_name == "Linux":
            install_xdg(applications_dir or Path.home() / ".local/share/applications", command)
        elif system_name == "Darwin":
            click.echo(MACOS_STEPS.format(command=command))
        elif system_name == "Windows":
            click.echo(WINDOWS_STEPS.format(command=command.replace("\\", "\\\\")))
        else:
            click.echo(f"No automatic installation on {system_name}: make the desktop run "
                       f"`{command} url <URL>` for the schemes {', '.join(SCHEMES)}.")


def viewbox_command() -> str:
    """The absolute command that runs this viewbox."""
    found = shutil.which("viewbox")
    if found:
        return str(Path(found).resolve())
    return f"{sys.executable} -c 'from viewbox.cli import run; run()'"


def desktop_entry(command: str) -> str:
    mime = "".join(f"x-scheme-handler/{scheme};" for scheme in SCHEMES)
    return ("[Desktop Entry]\nType=Application\nName=Viewbox URL handler\n"
            "Comment=Runs osirix://, horos:// and viewbox:// links on the local Viewbox\n"
            f"Exec={command} url %u\nTerminal=false\nNoDisplay=true\nMimeType={mime}\n")


def install_xdg(applications_dir: Path, command: str) -> None:
    """Write the .desktop file and make it the default for the three schemes (xdg-mime)."""
    applications_dir.mkdir(parents=True, exist_ok=True)
    path = applications_dir / DESKTOP_FILE
    path.write_text(desktop_entry(command), "utf-8")
    click.echo(f"wrote {path}")
    xdg_mime = shutil.which("xdg-mime")
    steps = [["xdg-mime", "default", DESKTOP_FILE, f"x-scheme-handler/{scheme}"] for scheme in SCHEMES]
    if xdg_mime is None:
        click.echo("xdg-mime is not installed; run these once it is:")
        for step in steps:
            click.echo("  " + " ".join(step))
        return
    for step in steps:
        result = subprocess.run([xdg_mime, *step[1:]], capture_output=True, text=True)
        status = "ok" if result.returncode == 0 else f"failed: {result.stderr.strip()}"
        click.echo(f"{' '.join(step)}: {status}")
    if shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", str(applications_dir)], capture_output=True)


MACOS_STEPS = """\
macOS routes URL schemes to application bundles. To send osirix://, horos:// and viewbox:// to Viewbox:
1. Open Script Editor, paste:
       on open location theURL
           do shell script "{command} url " & quoted form of theURL
       end open location
   and save it as an Application named "Viewbox URL" in /Applications.
2. In /Applications/Viewbox URL.app/Contents/Info.plist add:
       <key>CFBundleURLTypes</key><array><dict>
         <key>CFBundleURLName</key><string>Viewbox Remote Access</string>
         <key>CFBundleURLSchemes</key><array><string>osirix</string><string>horos</string><string>viewbox</string></array>
       </dict></array>
3. Open the application once (Launch Services registers it). If OsiriX or Horos is installed
   too, choose the default handler with `duti -s <bundle id> osirix` (brew install duti).
"""

WINDOWS_STEPS = """\
Save this as viewbox-url.reg and double-click it (registers the three schemes for your user):
Windows Registry Editor Version 5.00
""" + "".join(f"""
[HKEY_CURRENT_USER\\Software\\Classes\\{scheme}]
@="URL:{scheme} Protocol"
"URL Protocol"=""

[HKEY_CURRENT_USER\\Software\\Classes\\{scheme}\\shell\\open\\command]
@="\\"{{command}}\\" url \\"%1\\""
""" for scheme in SCHEMES)

"""Who may reach the workstation, by which names, and what stays refused: the rules behind the
one-line LAN setup (`viewbox serve --allow-client 10.1.2.3`) and the summary printed at start.

The machine's own names (host name, its fully qualified name, `<name>.local`) are accepted in the
Host header; once the workstation listens beyond loopback the fully qualified name is looked up
too, so a RIS that calls `http://radiology-ws.example.org:8080/` needs no `allowed_hosts`.
"""

from __future__ import annotations

import contextlib
import socket

from ..config import Settings, is_loopback
from ..permissions import DESTRUCTIVE_METHODS

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
WILDCARDS = ("", "0.0.0.0", "::")


def listens_beyond_loopback(settings: Settings) -> bool:
    return settings.host in WILDCARDS or not is_loopback(settings.host)


def own_host_names(settings: Settings) -> set[str]:
    """The names by which this machine may be called: localhost, its host name (short, `.local`
    and, when listening on the LAN, fully qualified) and the configured bind name."""
    names = set(LOCAL_NAMES)
    hostname = socket.gethostname().lower().rstrip(".")
    short = hostname.split(".", 1)[0]
    names.update({hostname, short, f"{short}.local"})
    if listens_beyond_loopback(settings):
        fqdn = socket.getfqdn(hostname).lower().rstrip(".")
        if fqdn and not _is_ip(fqdn):
            names.add(fqdn)
    host = settings.host.lower()
    if host not in WILDCARDS and not _is_ip(host):
        names.add(host)
    return names


def _is_ip(text: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in text else socket.AF_INET, text)
        return True
    except OSError:
        return False


def _addresses() -> list[str]:
    """This machine's addresses other than loopback: the one its default route leaves from (a UDP
    socket's connect sends nothing) and those its resolver gives for its host name."""
    found = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never reached, only routed
        found.append(probe.getsockname()[0])
    with contextlib.suppress(OSError):
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP):
            found.append(sockaddr[0])
    return [a for i, a in enumerate(found) if not is_loopback(a) and a not in found[:i]]


def access_summary(settings: Settings, port: int) -> list[str]:
    """What `viewbox serve` prints: where the workstation can be reached and what it refuses."""
    scheme = "https" if settings.tls_cert else "http"

    def url(host: str) -> str:
        return f"{scheme}://[{host}]:{port}/" if ":" in host else f"{scheme}://{host}:{port}/"

    lines = []
    if listens_beyond_loopback(settings):
        # fully qualified names first, then the short name, then `.local`
        hosts = sorted(own_host_names(settings) - LOCAL_NAMES,
                       key=lambda n: (n.endswith(".local"), -n.count("."), n))
        if settings.host not in WILDCARDS:
            hosts = [settings.host]
        else:
            hosts += _addresses()
        lines.append("reachable at: " + ", ".join(url(h) for h in hosts))
        admitted = ", ".join(settings.allow_clients) if settings.allow_clients else "any address"
        lines.append(f"clients admitted: this computer and {admitted}")
    else:
        lines.append(f"reachable at: {url(settings.host)} (this computer only; "
                     "--allow-client ADDRESS admits a RIS on the network)")
    users = []
    if settings.token:
        users.append("Bearer token")
    if settings.basic_users:
        users.append("HTTP Basic (" + ", ".join(sorted(settings.basic_users)) + ")")
    lines.append("credentials required: " + (" or ".join(users) if users else "none"))
    granted = {name.lower() for name in settings.remote_methods}
    refused = [name for name in DESTRUCTIVE_METHODS if name.lower() not in granted and "*" not in granted]
    if refused:
        lines.append("refused from other computers: " + ", ".join(refused)
                     + " (grant one with --allow-method NAME or remote_methods)")
    else:
        lines.append("refused from other computers: nothing (remote_methods allows every method)")
    return lines

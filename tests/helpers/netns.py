"""Private network namespaces (root and iproute2, which scripts/setup.sh installs) and a
`viewbox serve` running inside one: a workstation on port 8080 as the docs print it, or a LAN of
two machines, without touching the host's network or another test's ports."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import threading

from helpers.polling import eventually

_counter = itertools.count()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextlib.contextmanager
def namespaces(*roles: str):
    """Fresh namespaces with loopback up, one per role: {role: namespace name}."""
    tag = f"{os.getpid() % 100000}-{next(_counter)}"
    names = {role: f"vbx-{role}-{tag}" for role in roles}
    try:
        for name in names.values():
            ip("netns", "add", name)
            ip("-n", name, "link", "set", "lo", "up")
        yield names
    finally:
        for name in names.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def link(a: str, a_addresses: list[str], b: str, b_addresses: list[str]) -> None:
    """A veth pair between namespaces `a` and `b` with these addresses (CIDR /24)."""
    tag = f"{os.getpid() % 100000}{next(_counter)}"
    ends = (f"vbxa{tag}", f"vbxb{tag}")
    ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
    for namespace, end, addresses in ((a, ends[0], a_addresses), (b, ends[1], b_addresses)):
        ip("link", "set", end, "netns", namespace)
        for address in addresses:
            ip("-n", namespace, "addr", "add", f"{address}/24", "dev", end)
        ip("-n", namespace, "link", "set", end, "up")


def run_in(namespace: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace, *command], capture_output=True, text=True,
                          **kwargs)


class Serve:
    """`viewbox serve ARGS` (as a shell command line) inside a namespace; `output` is what it printed."""

    def __init__(self, namespace: str, command_line: str, env: dict, timeout: float = 120.0):
        # the command as printed, with `viewbox` meaning this interpreter's viewbox
        script = f'viewbox() {{ exec "{sys.executable}" -m viewbox "$@"; }}; {command_line}'
        self.process = subprocess.Popen(["ip", "netns", "exec", namespace, "bash", "-c", script],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()
        eventually(lambda: "Press Ctrl-C" in self.output or self.process.poll() is not None, timeout=timeout,
                   message=f"start of {command_line!r}")
        assert self.process.poll() is None, f"{command_line!r} stopped:\n{self.output}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return self.output

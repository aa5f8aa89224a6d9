"""`viewbox serve` as a child process, for the fault suite: started, killed with SIGKILL, restarted.

The data folder outlives the process; ports are chosen free once and kept across restarts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers.dicom_peers import DCMTK_ENV, STORESCU, free_port, stop_process, wait_for_port


class ServeProcess:
    """One workstation's `viewbox serve`, restartable on the same data folder and ports."""

    def __init__(self, data_root: Path, database_url: str | None = None):
        self.data_root = data_root
        self.database_url = database_url
        self.http_port, self.dicom_port = free_port(), free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = data_root.parent / f"{data_root.name}-serve.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> ServeProcess:
        args = [sys.executable, "-m", "viewbox", "serve", "--data", str(self.data_root),
                "--port", str(self.http_port), "--dicom-port", str(self.dicom_port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "VIEWBOX_CONFIG": ""})
        log.close()
        wait_for_port(self.http_port, self.process, 60)
        wait_for_port(self.dicom_port, self.process, 60)
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as a power cut would leave things."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        stop_process(self.process)

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""


def storescu(port: int, files: list[Path]) -> subprocess.Popen:
    """DCMTK storescu sending `files` to VIEWBOX on `port`, verbose (one line per answer) on stdout."""
    return subprocess.Popen([STORESCU, "-v", "-aec", "VIEWBOX", "127.0.0.1", str(port), *map(str, files)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=DCMTK_ENV)


def send_watching(port: int, files: list[Path], on_acknowledged) -> list[Path]:
    """Send `files` with storescu, calling `on_acknowledged(n)` after the n-th success answer (to
    kill or restart something at that point); the files whose storing was acknowledged."""
    sender = storescu(port, files)
    acknowledged: list[Path] = []
    sending = None
    assert sender.stdout is not None
    for line in sender.stdout:
        if line.startswith("I: Sending file: "):
            sending = Path(line.split(": ", 2)[2].strip())
        elif line.startswith("I: Received Store Response") and "Success" in line and sending:
            acknowledged.append(sending)
            on_acknowledged(len(acknowledged))
    sender.wait(timeout=120)
    return acknowledged


def resend_all(port: int, files: list[Path]) -> None:
    """Send every file again: each must be answered Success (stored, or stored already)."""
    sender = storescu(port, files)
    output = sender.communicate(timeout=180)[0]
    assert sender.returncode == 0 and output.count("Received Store Response (Success)") == len(files), output

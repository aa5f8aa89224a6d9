"""Real DICOM peers for interoperability tests and the C-STORE benchmark: Orthanc and DCMTK storescp.

Each runs as a child process with its own folders in a temp directory, is waited for with a
deadline (no sleeps-as-synchronisation), and is stopped by its PID. Clients only talk to 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN_CANDIDATES = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",)
STORESCU, STORESCP = "/usr/bin/storescu", "/usr/bin/storescp"
DCMDUMP = "/usr/bin/dcmdump"
FINDSCU, MOVESCU, GETSCU, ECHOSCU = "/usr/bin/findscu", "/usr/bin/movescu", "/usr/bin/getscu", "/usr/bin/echoscu"
# DCMTK and Orthanc disable Nagle only when told to (docs/benchmarks.md).
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, deadline_seconds: float = 30.0) -> None:
    """Return once 127.0.0.1:port accepts connections; fail if the process died or time ran out."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def stop_process(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def dicomweb_plugin() -> str:
    for candidate in DICOMWEB_PLUGIN_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    out = subprocess.run(["dpkg", "-L", "orthanc-dicomweb"], capture_output=True, text=True,
                         check=False).stdout
    return next(line for line in out.splitlines() if line.endswith(".so"))


class Orthanc:
    """An Orthanc server with its own config, storage and index in `folder`."""

    def __init__(self, folder: Path, aet: str = "ORTHANC", modalities: dict | None = None,
                 sync_storage: bool = True, dicomweb_servers: dict[str, str] | None = None):
        self.folder = Path(folder)
        self.aet = aet
        self.dicom_port = free_port()
        self.http_port = free_port()
        self.modalities = modalities or {}
        self.sync_storage = sync_storage
        self.dicomweb_servers = dicomweb_servers or {}  # name → DICOMweb root URL Orthanc may use
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> Orthanc:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "viewbox-test", "DicomAet": self.aet, "DicomPort": self.dicom_port,
            "HttpPort": self.http_port, "StorageDirectory": str(self.folder / "storage"),
            "IndexDirectory": str(self.folder / "index"), "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True,
            "DicomCheckCalledAet": False, "DicomModalities": self.modalities,
            "DicomModalitiesInDatabase": False, "SyncStorageArea": self.sync_storage,
            "StorageCompression": False, "HttpServerEnabled": True, "Plugins": [dicomweb_plugin()],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True,
                         "Servers": {name: [url.rstrip("/") + "/"] for name, url in self.dicomweb_servers.items()}},
            "DicomScpTimeout": 30, "StableAge": 1, "ConcurrentJobs": 2,
        }
        (self.folder / "orthanc.json").write_text(json.dumps(config))
        self._log = open(self.folder / "orthanc.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([ORTHANC, str(self.folder / "orthanc.json")], stdout=self._log,
                                        stderr=subprocess.STDOUT, env=DCMTK_ENV)
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(self.folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/system", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("Orthanc did not start")
            time.sleep(0.1)
        wait_for_port(self.dicom_port, self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()
            self._log = None

    def upload(self, paths) -> list[str]:
        """POST files to /instances; returns the Orthanc instance ids."""
        ids = []
        with httpx.Client(base_url=self.url, timeout=60) as client:
            for path in paths:
                reply = client.post("/instances", content=Path(path).read_bytes())
                reply.raise_for_status()
                ids.append(reply.json()["ID"])
        return ids

    def instance_count(self) -> int:
        return int(httpx.get(self.url + "/statistics", timeout=10).json()["CountInstances"])


class StoreSCP:
    """DCMTK's storescp writing every received object into `folder`."""

    def __init__(self, folder: Path, aet: str = "STORESCP", accept_all: bool = True, ignore: bool = False):
        self.folder = Path(folder)
        self.aet = aet
        self.port = free_port()
        self.accept_all = accept_all
        self.ignore = ignore
        self.process: subprocess.Popen | None = None

    def start(self) -> StoreSCP:
        self.folder.mkdir(parents=True, exist_ok=True)
        args = [STORESCP, "-aet", self.aet, "-od", str(self.folder), "--max-pdu", "131072"]
        if self.accept_all:
            args.append("+xa")
        if self.ignore:
            args.append("--ignore")
        self.process = subprocess.Popen(args + [str(self.port)], env=DCMTK_ENV,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, self.process)
        return self

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

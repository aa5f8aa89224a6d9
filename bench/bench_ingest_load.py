"""C-STORE ingest under RIS load, and several modalities at once against Orthanc, in one run.

    python bench/bench_ingest_load.py [--count 500] [--clients 32] [--senders 4] [--corpus DIR]

1. Viewbox alone: one DCMTK `storescu` association sends `count` CT files (files/s).
2. 32 keep-alive XML-RPC clients poll DBWindowFind back to back (calls/s alone), then the same
   number of new files is sent while they poll: files/s under load, as a share of (1), and the
   calls/s the clients kept.
3. `senders` storescu at once, each a quarter of the corpus, to a fresh Viewbox and then to a fresh
   Orthanc 1.10 on the same files: files/s of each and Viewbox / Orthanc.

Run as root it re-executes itself in a private network namespace (only loopback), where Orthanc,
which cannot be told to listen on loopback alone, is safe to start. Clients run in their own
process so that their CPU is not Viewbox's GIL. The machine is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_cstore import make_corpus  # noqa: E402 (found through the path set just above)

from helpers.dicom_peers import (  # noqa: E402
    DCMTK_ENV,
    ECHOSCU,
    STORESCU,
    Orthanc,
    free_port,
    stop_process,
    wait_for_port,
)

PDU = 131072
_NAMESPACED = "VIEWBOX_BENCH_NAMESPACED"


# -- the polling RIS (runs in a child process: `--poll PORT CLIENTS`) -------------------------------

def _request(port: int, index: int) -> bytes:
    body = xmlrpc.client.dumps(({"request": f"patientID == 'BENCH{index % 5:04d}'", "table": "Study"},),
                               "DBWindowFind").encode()
    return (f"POST /RPC2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _poll_one(port: int, index: int, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    raw = _request(port, index)
    while True:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await reader.readexactly(length)
        counts[0] += 1


async def _poll(port: int, clients: int) -> None:
    """Poll until killed; print the running call count on each line of stdin."""
    counts = [0]
    tasks = [asyncio.create_task(_poll_one(port, index, counts)) for index in range(clients)]
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        print(counts[0], flush=True)
    for task in tasks:
        task.cancel()


class Poller:
    """The polling clients in their own process; `calls()` reads their running count."""

    def __init__(self, port: int, clients: int):
        self.process = subprocess.Popen([sys.executable, __file__, "--poll", str(port), str(clients)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def calls(self) -> int:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the polling clients died")
        return int(line)

    def stop(self) -> None:
        self.process.stdin.close()
        stop_process(self.process)


# -- servers and senders -----------------------------------------------------------------------------

class Viewbox:
    def __init__(self, work: Path):
        self.port, self.dicom_port = free_port(), free_port()
        self._log = open(work / "viewbox.log", "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in DCMTK_ENV.items() if not k.startswith("VIEWBOX_")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from viewbox.cli import run; run()", "serve", "--data", str(work / "viewbox"),
             "--port", str(self.port), "--dicom-port", str(self.dicom_port)],
            env={**env, "PYTHONPATH": str(ROOT / "src")}, stdout=subprocess.DEVNULL, stderr=self._log)
        wait_for_port(self.dicom_port, self.process, 60)
        wait_for_port(self.port, self.process, 60)
        subprocess.run([ECHOSCU, "-aec", "VIEWBOX", "127.0.0.1", str(self.dicom_port)], env=DCMTK_ENV, check=True)

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def send_all(aet: str, port: int, folders: list[Path]) -> float:
    """Seconds until one storescu per folder, all started at once, has sent its folder."""
    started = time.perf_counter()
    senders = [subprocess.Popen([STORESCU, "-aec", aet, "+sd", "+r", "--max-send-pdu", str(PDU),
                                 "127.0.0.1", str(port), str(folder)], env=DCMTK_ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for folder in folders]
    failures = []
    for sender in senders:
        _, err = sender.communicate()
        if sender.returncode != 0:
            failures.append(err[-1000:])
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"storescu to {aet} failed: {failures[0]}")
    return elapsed


def linked_folder(folder: Path, files: list[Path]) -> Path:
    """`folder` holding exactly `files` (hard links)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for path in files:
        os.link(path, folder / path.name)
    return folder


def split(folder: Path, files: list[Path], parts: int) -> list[Path]:
    return [linked_folder(folder / f"part{index}", files[index::parts]) for index in range(parts)]


# -- the run -----------------------------------------------------------------------------------------

def under_load(work: Path, alone: Path, loaded: Path, count: int, clients: int) -> None:
    viewbox = Viewbox(work)
    try:
        rate_alone = count / send_all("VIEWBOX", viewbox.dicom_port, [alone])
        print(f"ingest alone                      {rate_alone:8.1f} files/s", flush=True)
        poller = Poller(viewbox.port, clients)
        try:
            poller.calls()
            time.sleep(1.0)  # the clients' connections are open and warm
            before, started = poller.calls(), time.perf_counter()
            time.sleep(5.0)
            http_alone = (poller.calls() - before) / (time.perf_counter() - started)
            before, started = poller.calls(), time.perf_counter()
            seconds = send_all("VIEWBOX", viewbox.dicom_port, [loaded])
            http_loaded = (poller.calls() - before) / (time.perf_counter() - started)
        finally:
            poller.stop()
        rate_loaded = count / seconds
        print(f"ingest under {clients} polling clients    {rate_loaded:8.1f} files/s "
              f"({rate_loaded / rate_alone:.0%} of alone; aim >= 40%)")
        print(f"XML-RPC calls/s, {clients} clients       {http_alone:8.0f} alone, {http_loaded:.0f} during ingest "
              f"({http_loaded / http_alone:.0%})", flush=True)
    finally:
        viewbox.stop()


def concurrent(work: Path, parts: list[Path], count: int) -> None:
    (work / "v").mkdir()
    viewbox = Viewbox(work / "v")
    try:
        viewbox_seconds = send_all("VIEWBOX", viewbox.dicom_port, parts)
    finally:
        viewbox.stop()
    orthanc = Orthanc(work / "orthanc").start()
    try:
        orthanc_seconds = send_all(orthanc.aet, orthanc.dicom_port, parts)
    finally:
        orthanc.stop()
    print(f"{len(parts)} senders at once: Viewbox {count / viewbox_seconds:8.1f} files/s, "
          f"Orthanc {count / orthanc_seconds:8.1f} files/s, Viewbox / Orthanc "
          f"{orthanc_seconds / viewbox_seconds:.2f}×", flush=True)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--poll":
        asyncio.run(_poll(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "viewbox-bench-load")
    parser.add_argument("--only", choices=["load", "concurrent"], action="append")
    args = parser.parse_args()
    if os.geteuid() == 0 and not os.environ.get(_NAMESPACED):
        os.execvpe("unshare", ["unshare", "--net", "--kill-child", "--", "sh", "-c",
                               'ip link set lo up && exec "$@"', "sh", sys.executable, *sys.argv],
                   {**os.environ, _NAMESPACED: "1"})
    first = make_corpus(args.corpus / "first", args.count)
    second = make_corpus(args.corpus / "second", args.count)
    megabytes = sum(p.stat().st_size for p in first) / 1e6
    print(f"corpus: {args.count} CT files ({megabytes:.0f} MB) per phase, storescu --max-send-pdu {PDU}, "
          f"{os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-load-", dir=args.corpus) as tmp:
        work = Path(tmp)
        if "load" in (args.only or ["load"]):
            (work / "load").mkdir()
            under_load(work / "load", linked_folder(work / "alone", first),
                       linked_folder(work / "loaded", second), args.count, args.clients)
        if "concurrent" in (args.only or ["concurrent"]):
            (work / "concurrent").mkdir()
            concurrent(work / "concurrent", split(work / "parts", first, args.senders), args.count)


if __name__ == "__main__":
    main()

"""Benchmark: control-API round trips over HTTP keep-alive against a real `viewbox serve`.

Measures calls per second and p50/p99 latency of XML-RPC `DisplayStudy` (one study found and
opened: lookup, dateOpened write, workspace update, reply) and `DBWindowFind` on a database of
10,000 studies (built like bench_predicates.py: 4 series × 5 images per study), with 1, 8 and 32
concurrent clients, each on its own keep-alive connection. Clients use raw asyncio sockets with
pre-built requests so the client side costs as little as possible; the server runs in its own
process, as in production.

Run: `python bench/bench_control.py` (`--studies N`, `--calls N` per client count).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_predicates import build  # noqa: E402  (the shared synthetic-database builder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, params: dict) -> bytes:
    body = xmlrpc.client.dumps((params,), method).encode()
    head = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode() + " " + body[:200].decode())
    return body


async def client(port: int, requests: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for raw in requests:
        start = time.perf_counter()
        writer.write(raw)
        await read_response(reader)
        latencies.append(time.perf_counter() - start)
    writer.close()


async def run(port: int, make_request, clients: int, calls: int) -> tuple[float, float, float]:
    per_client = max(1, calls // clients)
    latencies: list[float] = []
    batches = [[make_request() for _ in range(per_client)] for _ in range(clients)]
    # warm up (connections, caches) before timing
    await asyncio.gather(*(client(port, batch[:5], []) for batch in batches))
    start = time.perf_counter()
    await asyncio.gather(*(client(port, batch, latencies) for batch in batches))
    elapsed = time.perf_counter() - start
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def start_server(root: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWBOX_")}
    process = subprocess.Popen([sys.executable, "-c", "from viewbox.cli import run; run()", "serve",
                                "--data", str(root), "--port", str(port), "--dicom-port", "0"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode()) from None
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=2_000, help="calls per scenario")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        root = Path(tmp) / "root"
        data = root / "Viewbox Data"
        data.mkdir(parents=True)
        started = time.perf_counter()
        build(data / "viewbox.sqlite", args.studies)
        print(f"built {args.studies} studies in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_server(root, port)
        try:
            scenarios = {
                "DisplayStudy PatientID (1 hit, opened)": lambda: request(
                    port, "DisplayStudy", {"PatientID": f"P{rng.randrange(1, args.studies + 1):07d}"}),
                "DBWindowFind patientID == (1 hit)": lambda: request(
                    port, "DBWindowFind", {"request": f"patientID == 'P{rng.randrange(1, args.studies + 1):07d}'",
                                           "table": "Study"}),
                "DBWindowFind name CONTAINS[cd] 'smith' (~400 hits)": lambda: request(
                    port, "DBWindowFind", {"request": "name CONTAINS[cd] 'smith'", "table": "Study"}),
            }
            print(f"{'scenario':52} {'clients':>7} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for name, make in scenarios.items():
                for clients in args.clients:
                    rate, p50, p99 = asyncio.run(run(port, make, clients, args.calls))
                    print(f"{name:52} {clients:>7} {rate:>9.0f} {p50:>8.2f} {p99:>8.2f}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()

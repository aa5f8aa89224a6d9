"""Benchmark: one 512×512 16-bit CT frame, windowed, encoded for the browser.

Compares Viewbox's rendering path (FrameCache + render_decoded + encode, in-process, cold and warm) with Orthanc's
`GET /instances/{id}/frames/0/rendered` on the same synthetic file in the same run.

Run as root: `python bench/bench_render.py`. Orthanc 1.10 listens on every interface, so the
script re-executes itself inside a private network namespace (`unshare --net`) where only
loopback exists, starts Orthanc there with its own temporary config and storage, and times it
over HTTP keep-alive. Without root or Orthanc it measures Viewbox alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from viewbox.render import MEDIA_TYPES, FrameCache, encode, render_decoded, render_frame

INSIDE_NAMESPACE = "VIEWBOX_BENCH_IN_NETNS"
ORTHANC_HTTP_PORT = 8042
ORTHANC_DICOM_PORT = 4242
WINDOW = (40.0, 400.0)


def synthetic_ct(path: Path, size: int = 512) -> None:
    """A body-like phantom: air, soft tissue disc, bone ring, noise; stored as CT with rescale."""
    rng = np.random.default_rng(6)
    y, x = np.mgrid[:size, :size] - size / 2
    radius = np.hypot(x, y)
    hu = np.full((size, size), -1000.0)
    hu[radius < size * 0.42] = 40.0
    hu[(radius > size * 0.30) & (radius < size * 0.34)] = 900.0
    hu[np.hypot(x - size * 0.1, y + size * 0.05) < size * 0.06] = -600.0  # a "lung" spot
    hu += rng.normal(0, 15, hu.shape)
    stored = np.clip(np.rint(hu + 1024), 0, 4095).astype(np.uint16)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Bench^Phantom", "BENCH1", "CT"
    ds.StudyDate, ds.SeriesNumber, ds.InstanceNumber = "20240101", 1, 1
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.WindowCenter, ds.WindowWidth = WINDOW
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] * 1000,
    )


def time_calls(call, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def render_array(cache: FrameCache, path: Path, center: float, width: float) -> np.ndarray:
    """The viewers' path (web.frames.SeriesFrames.render) without the database lookup."""
    return render_decoded(*cache.frame(path, 0), window_center=center, window_width=width)[0]


def render_bytes(cache: FrameCache, path: Path, center: float, width: float, fmt: str) -> bytes:
    return encode(render_array(cache, path, center, width), fmt)


def bench_viewbox(path: Path, fmt: str, repeat: int) -> dict[str, tuple[float, float]]:
    center, width = WINDOW
    results = {}
    cold = time_calls(lambda: render_bytes(FrameCache(), path, center, width, fmt), repeat)
    results[f"Viewbox cold ({fmt})"] = percentiles(cold)
    cache = FrameCache()
    render_bytes(cache, path, center, width, fmt)
    warm = time_calls(lambda: render_bytes(cache, path, center, width, fmt), repeat)
    results[f"Viewbox warm ({fmt})"] = percentiles(warm)
    array = render_array(cache, path, center, width)
    results[f"  of which encode ({fmt})"] = percentiles(time_calls(lambda: encode(array, fmt), repeat))
    results["  of which window only"] = percentiles(
        time_calls(lambda: render_array(cache, path, center, width), repeat)
    )
    return results


def bench_viewbox_http(path: Path, repeat: int) -> dict[str, tuple[float, float]]:
    """The same renders behind a minimal stdlib HTTP/1.1 server, so the comparison with Orthanc
    includes a socket round trip (the real web layer is Starlette; this isolates rendering)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    import httpx

    cache = FrameCache()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (stdlib name)
            query = parse_qs(urlparse(self.path).query)
            fmt = query["fmt"][0]
            body = render_bytes(cache, path, float(query["wc"][0]), float(query["ww"][0]), fmt)
            self.send_response(200)
            self.send_header("Content-Type", MEDIA_TYPES[fmt])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    results = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_port}", timeout=30) as client:
            for fmt in ("jpeg", "png"):
                params = {"wc": WINDOW[0], "ww": WINDOW[1], "fmt": fmt}
                client.get("/", params=params).raise_for_status()
                samples = time_calls(lambda params=params: client.get("/", params=params).content, repeat)
                results[f"Viewbox HTTP warm ({fmt})"] = percentiles(samples)
    finally:
        server.shutdown()
        server.server_close()
    return results


def start_orthanc(workdir: Path) -> subprocess.Popen:
    config = {
        "Name": "ViewboxBench",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "HttpPort": ORTHANC_HTTP_PORT,
        "DicomPort": ORTHANC_DICOM_PORT,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "StorageCompression": False,
        "Plugins": [],
    }
    config_path = workdir / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = open(workdir / "orthanc.log", "wb")
    return subprocess.Popen(
        [shutil.which("Orthanc") or "/usr/sbin/Orthanc", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TCP_NODELAY": "1"},
    )


def bench_orthanc(path: Path, workdir: Path, repeat: int) -> dict[str, tuple[float, float]]:
    import httpx

    process = start_orthanc(workdir)
    base = f"http://127.0.0.1:{ORTHANC_HTTP_PORT}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/system").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (workdir / "orthanc.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Orthanc did not start:\n{log}")
                time.sleep(0.05)  # polling a server start-up, not a test sleep
            uploaded = client.post("/instances", content=path.read_bytes())
            uploaded.raise_for_status()
            instance = uploaded.json()["ID"]
            center, width = WINDOW
            results = {}
            for fmt, accept in (("jpeg", "image/jpeg"), ("png", "image/png")):
                url = f"/instances/{instance}/frames/0/rendered"
                params = {"window-center": center, "window-width": width, "quality": 90}
                headers = {"Accept": accept}
                start = time.perf_counter()
                first = client.get(url, params=params, headers=headers)
                first.raise_for_status()
                elapsed = time.perf_counter() - start
                results[f"Orthanc first request ({fmt})"] = (elapsed * 1000, elapsed * 1000)
                assert first.headers["content-type"].startswith(accept), first.headers
                samples = time_calls(lambda url=url, params=params, headers=headers: client.get(url, params=params, headers=headers).content, repeat)
                results[f"Orthanc warm ({fmt})"] = percentiles(samples)
                if fmt == "png":
                    results["__orthanc_png"] = first.content
            return results
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def compare_images(orthanc_png: bytes, path: Path) -> str:
    """How far Orthanc's pixels are from ours (both should apply the same 40/400 window)."""
    import io

    from PIL import Image

    theirs = np.asarray(Image.open(io.BytesIO(orthanc_png)).convert("L")).astype(np.int16)
    ours = render_frame(path, 0, window_center=WINDOW[0], window_width=WINDOW[1]).astype(np.int16)
    if theirs.shape != ours.shape:
        return f"shapes differ: Orthanc {theirs.shape}, Viewbox {ours.shape}"
    difference = np.abs(theirs - ours)
    return f"Orthanc vs Viewbox PNG pixels: max |diff| {difference.max()}, mean {difference.mean():.3f}"


def run(repeat: int, with_orthanc: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="viewbox-bench-") as temp:
        workdir = Path(temp)
        path = workdir / "ct512.dcm"
        synthetic_ct(path)
        results: dict[str, object] = {}
        for fmt in ("jpeg", "png"):
            results.update(bench_viewbox(path, fmt, repeat))
        results.update(bench_viewbox_http(path, repeat))
        if with_orthanc:
            results.update(bench_orthanc(path, workdir, repeat))
        orthanc_png = results.pop("__orthanc_png", None)
        print(f"512x512 16-bit CT, window {WINDOW[0]:g}/{WINDOW[1]:g}, {repeat} requests each, "
              f"pydicom {pydicom.__version__}")
        print(f"{'':28} {'p50 ms':>8} {'p99 ms':>8}")
        for name, (p50, p99) in results.items():  # type: ignore[misc]
            print(f"{name:28} {p50:8.2f} {p99:8.2f}")
        if orthanc_png is not None:
            print(compare_images(orthanc_png, path))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--no-orthanc", action="store_true", help="measure Viewbox only")
    args = parser.parse_args()
    orthanc = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists("/usr/sbin/Orthanc") else None)
    want_orthanc = not args.no_orthanc and orthanc is not None
    if want_orthanc and os.environ.get(INSIDE_NAMESPACE) != "1":
        if os.geteuid() != 0:
            print("not root: cannot create a private network namespace; measuring Viewbox only")
            run(args.repeat, with_orthanc=False)
            return
        command = " ".join(
            [
                "ip link set lo up && exec",
                *(map(_quote, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])),
            ]
        )
        environment = {**os.environ, INSIDE_NAMESPACE: "1"}
        sys.exit(subprocess.call(["unshare", "--net", "--kill-child", "--", "bash", "-c", command], env=environment))
    if not want_orthanc and not args.no_orthanc:
        print("Orthanc not installed: measuring Viewbox only")
    run(args.repeat, with_orthanc=want_orthanc)


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


if __name__ == "__main__":
    main()

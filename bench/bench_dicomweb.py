"""Benchmark: Viewbox's DICOMweb server against Orthanc's DICOMweb plugin, same data, same run.

- QIDO-RS `/studies?PatientName=…` p50 on 10,000 studies (one small instance each): an exact
  name (~40 hits) and a prefix wildcard (~400 hits), both servers answering the same rows.
- WADO-RS `/studies/{uid}`: one study of 200 CT-sized files (512×512, 16 bit, ~0.5 MB), MB/s.
- STOW-RS `POST /studies`: the same 200 files (new UIDs each run) in one multipart request, files/s.

Run as root: `python bench/bench_dicomweb.py` (`--studies N`, `--files N`, `--repeat N`). Orthanc
1.10 listens on every interface, so the script re-executes itself in a private network namespace
(`unshare --net`) where only loopback exists. Viewbox runs as `viewbox serve` in its own process.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import httpx
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_control import free_port, start_server  # noqa: E402
from bench_predicates import FIRST_NAMES, LAST_NAMES  # noqa: E402

from helpers.dicom_peers import Orthanc  # noqa: E402

INSIDE_NAMESPACE = "VIEWBOX_BENCH_IN_NETNS"
DICOM_PARTS = 'multipart/related; type="application/dicom"'


def dataset(study: str, series: str, name: str, patient_id: str, size: int, number: int) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID = name, patient_id
    ds.StudyDate, ds.StudyTime, ds.Modality = "20240102", "101500", "CT"
    ds.AccessionNumber, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = patient_id[-8:], "1", 1, number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(number).integers(0, 4000, (size, size), dtype=np.uint16).tobytes()
    return ds


def encoded(ds) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_corpus(folder: Path, studies: int, files: int) -> tuple[Path, Path, str]:
    """(many small studies, one big study, the big study's UID) written as files."""
    rng = random.Random(5)
    small, big = folder / "small", folder / "big"
    small.mkdir()
    big.mkdir()
    for n in range(studies):
        name = f"{rng.choice(LAST_NAMES)}^{rng.choice(FIRST_NAMES)}"
        (small / f"{n}.dcm").write_bytes(encoded(dataset(generate_uid(), generate_uid(), name, f"P{n:07d}", 16, 1)))
    study, series = generate_uid(), generate_uid()
    for n in range(files):
        (big / f"{n}.dcm").write_bytes(encoded(dataset(study, series, "BIG^STUDY", "BIG", 512, n + 1)))
    return small, big, study


def upload(orthanc_url: str, paths: list[Path]) -> None:
    def send(chunk: list[Path]) -> None:
        with httpx.Client(base_url=orthanc_url, timeout=60) as client:
            for path in chunk:
                client.post("/instances", content=path.read_bytes()).raise_for_status()

    chunks = [paths[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, chunks))


def p50_ms(client: httpx.Client, url: str, repeat: int) -> tuple[float, int]:
    headers = {"Accept": "application/dicom+json"}
    hits = len(client.get(url, headers=headers).json())  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        reply = client.get(url, headers=headers)
        reply.raise_for_status()
        reply.json()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000, hits


def wado_mb_per_s(client: httpx.Client, url: str, repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        size = 0
        with client.stream("GET", url, headers={"Accept": DICOM_PARTS}) as reply:
            reply.raise_for_status()
            for chunk in reply.iter_raw():
                size += len(chunk)
        rates.append(size / (time.perf_counter() - start) / 1e6)
    return statistics.median(rates)


def stow_body(paths: list[Path]) -> tuple[bytes, str]:
    """The files with fresh UIDs (so each run stores new objects) as one multipart body."""
    study, series = generate_uid(), generate_uid()
    parts = []
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        parts.append(b"--bench\r\nContent-Type: application/dicom\r\n\r\n" + encoded(ds) + b"\r\n")
    return b"".join(parts) + b"--bench--\r\n", f"{DICOM_PARTS}; boundary=bench"


def stow_files_per_s(client: httpx.Client, url: str, paths: list[Path], repeat: int) -> float:
    rates = []
    for _ in range(repeat):
        body, content_type = stow_body(paths)
        start = time.perf_counter()
        reply = client.post(url, content=body, headers={"Content-Type": content_type,
                                                        "Accept": "application/dicom+json"})
        elapsed = time.perf_counter() - start
        if reply.status_code != 200:
            raise RuntimeError(f"STOW to {url}: {reply.status_code} {reply.text[:300]}")
        rates.append(len(paths) / elapsed)
    return statistics.median(rates)


def run(args) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-dicomweb-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        small, big, big_study = write_corpus(folder, args.studies, args.files)
        print(f"wrote {args.studies} small studies and a study of {args.files} files "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        from viewbox.app import Workstation
        from viewbox.config import Settings

        root = folder / "viewbox"
        workstation = Workstation(Settings(data_root=root))
        workstation.import_paths([small, big])
        workstation.close()
        port = free_port()
        viewbox = start_server(root, port)
        orthanc = Orthanc(folder / "orthanc").start()
        try:
            started = time.perf_counter()
            upload(orthanc.url, sorted(small.iterdir()) + sorted(big.iterdir()))
            print(f"loaded Orthanc in {time.perf_counter() - started:.0f} s", flush=True)
            servers = {"Viewbox": f"http://127.0.0.1:{port}/dicom-web", "Orthanc": orthanc.dicomweb_url}
            clients = {name: httpx.Client(timeout=300) for name in servers}
            big_paths = sorted(big.iterdir())
            print(f"{'measure':44} {'Viewbox':>10} {'Orthanc':>10} {'ratio':>7}")
            # written out, not percent-encoded: Orthanc 1.10 does not decode `%5E` or `%2A` in QIDO
            for query in ("PatientName=SMITH^JOHN", "PatientName=SMITH*"):
                label = f"QIDO /studies?{query} p50 ms"
                results = {name: p50_ms(clients[name], f"{url}/studies?{query}", args.repeat * 10)
                           for name, url in servers.items()}
                hits = {name: hit for name, (_, hit) in results.items()}
                ratio = results["Orthanc"][0] / results["Viewbox"][0]
                print(f"{label:44} {results['Viewbox'][0]:>10.2f} {results['Orthanc'][0]:>10.2f} "
                      f"{ratio:>6.2f}x  (hits {hits})", flush=True)
            rates = {name: wado_mb_per_s(clients[name], f"{url}/studies/{big_study}", args.repeat)
                     for name, url in servers.items()}
            print(f"{'WADO-RS study MB/s':44} {rates['Viewbox']:>10.0f} {rates['Orthanc']:>10.0f} "
                  f"{rates['Viewbox'] / rates['Orthanc']:>6.2f}x", flush=True)
            rates = {name: stow_files_per_s(clients[name], f"{url}/studies", big_paths, args.repeat)
                     for name, url in servers.items()}
            print(f"{'STOW-RS files/s (' + str(len(big_paths)) + ' per request)':44} {rates['Viewbox']:>10.0f} "
                  f"{rates['Orthanc']:>10.0f} {rates['Viewbox'] / rates['Orthanc']:>6.2f}x", flush=True)
        finally:
            orthanc.stop()
            viewbox.terminate()
            viewbox.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if os.environ.get(INSIDE_NAMESPACE) != "1":
        if os.geteuid() != 0:
            sys.exit("run as root: Orthanc needs a private network namespace (unshare --net)")
        command = "ip link set lo up && exec " + " ".join(
            shlex.quote(word) for word in [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])
        sys.exit(subprocess.call(["unshare", "--net", "--kill-child", "--", "bash", "-c", command],
                                 env={**os.environ, INSIDE_NAMESPACE: "1"}))
    run(args)


if __name__ == "__main__":
    main()

"""C-STORE ingest benchmark: the same generated corpus sent with DCMTK storescu to Viewbox, to
Orthanc and to DCMTK storescp (the network + disk ceiling), one after the other in one run.

    python bench/bench_cstore.py [--count 2000] [--corpus DIR] [--pdu 131072]

Prints files/s and MB/s of each and Viewbox's ratio to Orthanc. Each server gets fresh storage.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.dicom_peers import (  # noqa: E402 (found through the path set just above)
    DCMTK_ENV,
    ECHOSCU,
    STORESCU,
    Orthanc,
    StoreSCP,
    free_port,
    stop_process,
    wait_for_port,
)

TEMPLATE = ROOT / "tests/data/samples/dicomParser/CT1_UNC.explicit_big_endian.dcm"


def make_corpus(folder: Path, count: int, per_study: int = 100) -> list[Path]:
    """`count` 512×512 16-bit CT files (~526 kB, Explicit VR Little Endian) in studies of `per_study`."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.dcm"))
    if len(existing) >= count:
        return existing[:count]
    template = pydicom.dcmread(TEMPLATE)
    pixels = template.pixel_array.astype("<i2")
    template.PixelData = pixels.tobytes()
    template.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    paths = []
    for index in range(count):
        if index % per_study == 0:
            study_uid, series_uid = generate_uid(), generate_uid()
            template.PatientID = f"BENCH{index // per_study:04d}"
            template.PatientName = f"Bench^Patient{index // per_study:04d}"
            template.AccessionNumber = f"ACC{index // per_study:05d}"
        template.StudyInstanceUID, template.SeriesInstanceUID = study_uid, series_uid
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = index % per_study + 1
        path = folder / f"ct{index:05d}.dcm"
        pydicom.dcmwrite(path, template, implicit_vr=False, little_endian=True, enforce_file_format=True)
        paths.append(path)
    return paths


def send(aet: str, port: int, corpus: Path, pdu: int) -> float:
    """Seconds storescu takes to send the whole corpus over one association."""
    started = time.perf_counter()
    result = subprocess.run([STORESCU, "-aec", aet, "+sd", "+r", "--max-send-pdu", str(pdu),
                             "127.0.0.1", str(port), str(corpus)], env=DCMTK_ENV,
                            capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"storescu to {aet} failed: {result.stderr[-2000:]}")
    return elapsed


def run_viewbox(work: Path, corpus: Path, pdu: int) -> float:
    port, dicom_port = free_port(), free_port()
    log = open(work / "viewbox.log", "wb")  # noqa: SIM115 - closed below, after the server stops
    process = subprocess.Popen([sys.executable, "-c", "from viewbox.cli import run; run()", "serve", "--data", str(work / "viewbox"),
                                "--port", str(port), "--dicom-port", str(dicom_port)],
                               env={**DCMTK_ENV, "PYTHONPATH": str(ROOT / "src")},
                               stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for_port(dicom_port, process, 60)
        subprocess.run([ECHOSCU, "-aec", "VIEWBOX", "127.0.0.1", str(dicom_port)], env=DCMTK_ENV, check=True)
        return send("VIEWBOX", dicom_port, corpus, pdu)
    finally:
        stop_process(process)
        log.close()


def run_orthanc(work: Path, corpus: Path, pdu: int) -> float:
    orthanc = Orthanc(work / "orthanc").start()
    try:
        return send(orthanc.aet, orthanc.dicom_port, corpus, pdu)
    finally:
        orthanc.stop()


def run_storescp(work: Path, corpus: Path, pdu: int) -> float:
    storescp = StoreSCP(work / "storescp").start()
    try:
        return send(storescp.aet, storescp.port, corpus, pdu)
    finally:
        storescp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--corpus", type=Path, default=Path(tempfile.gettempdir()) / "viewbox-bench-corpus")
    parser.add_argument("--pdu", type=int, default=131072)
    parser.add_argument("--only", choices=["viewbox", "orthanc", "storescp"], action="append")
    args = parser.parse_args()
    files = make_corpus(args.corpus, args.count)
    corpus = args.corpus / "sent"
    if corpus.exists():
        for old in corpus.iterdir():
            old.unlink()
    corpus.mkdir(exist_ok=True)
    for path in files:  # exactly `count` files, whatever else the cache folder holds
        os.link(path, corpus / path.name)
    megabytes = sum(p.stat().st_size for p in files) / 1e6
    print(f"corpus: {len(files)} files, {megabytes:.0f} MB, storescu --max-send-pdu {args.pdu}")
    results = {}
    runners = {"viewbox": run_viewbox, "orthanc": run_orthanc, "storescp": run_storescp}
    for name in args.only or list(runners):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-", dir=args.corpus.parent) as work:
            seconds = runners[name](Path(work), corpus, args.pdu)
        results[name] = seconds
        print(f"{name:9s} {len(files) / seconds:8.1f} files/s {megabytes / seconds:8.1f} MB/s "
              f"({seconds:.1f} s)", flush=True)
    if "viewbox" in results and "orthanc" in results:
        print(f"Viewbox / Orthanc: {results['orthanc'] / results['viewbox']:.2f}×")


if __name__ == "__main__":
    main()

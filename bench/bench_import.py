"""Import benchmark: `viewbox import` files/s against a header-only pydicom read of the same files.

    python bench/bench_import.py [--files 2000] [--workdir /tmp/viewbox-bench-import]

Generates a realistic synthetic CT corpus (512×512 16-bit, several patients, studies and series)
once, then in the same run, in interleaved rounds: (1) the parse ceiling,
`dcmread(stop_before_pixels=True)` of every file in one process, warm; (2) `viewbox import --json`
into an empty data folder, as a user runs it (start-up included), with its peak RSS, and the same
with `--link` (hard links instead of copies, OsiriX's "do not copy"); (3) `cp -r` +
`sync` of the corpus, the disk's ceiling for keeping durable copies. Before them, the same import
of a quarter of the corpus shows that memory does not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def generate(folder: Path, files: int) -> list[Path]:
    """Write `files` CT images: 10 patients × 2 studies × 4 series, filled in order."""
    if folder.exists() and len(list(folder.rglob("*.dcm"))) == files:
        return sorted(folder.rglob("*.dcm"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    base = (rng.normal(40, 300, (512, 512))).clip(-1024, 3000).astype(np.int16)
    per_series = max(1, files // 80)
    paths = []
    study_uid = series_uid = None
    for index in range(files):
        series_index = index // per_series
        if index % per_series == 0:
            series_uid = generate_uid()
            if series_index % 4 == 0:
                study_uid = generate_uid()
        patient = series_index // 8
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.PatientName = f"Müller^Patient{patient}"
        ds.PatientID = f"P{patient:05d}"
        ds.PatientBirthDate = "19600101"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = "20240301"
        ds.StudyTime = "101500"
        ds.AccessionNumber = f"A{series_index // 4:06d}"
        ds.StudyDescription = "CT CHEST"
        ds.SeriesDescription = f"Series {series_index % 4 + 1}"
        ds.SeriesNumber = series_index % 4 + 1
        ds.InstanceNumber = index % per_series + 1
        ds.Modality = "CT"
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.ImagePositionPatient = [0, 0, float(index % per_series)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelData = np.roll(base, index, axis=0).tobytes()
        path = folder / f"s{series_index:03d}" / f"im{index:05d}.dcm"
        path.parent.mkdir(exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def ceiling(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        pydicom.dcmread(path, stop_before_pixels=True)
    return len(paths) / (time.perf_counter() - start)


def copy_ceiling(folder: Path, target: Path) -> float:
    """`cp -r` + `sync` of the same files: the disk's rate for durable copies, which any import
    that keeps its own copy (as Viewbox does) cannot beat."""
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(["cp", "-r", str(folder), str(target)], check=True)
    subprocess.run(["sync"], check=True)
    elapsed = time.perf_counter() - start
    count = sum(1 for _ in target.rglob("*.dcm"))
    shutil.rmtree(target, ignore_errors=True)
    return count / elapsed


def viewbox_import(folder: Path, data: Path, *options: str) -> tuple[float, dict, int]:
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(["sync"], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "viewbox", "import", "--json", *options, "--data", str(data),
                             str(folder)], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    report = json.loads(result.stdout)
    return report["imported"] / elapsed, report, max(peak_kib, before)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/viewbox-bench-import"))
    args = parser.parse_args()
    corpus = args.workdir / "corpus"
    paths = generate(corpus, args.files)
    size_mb = sum(p.stat().st_size for p in paths) / 1e6
    ceiling(paths[:200])  # warm the page cache
    small_folder = args.workdir / "quarter"
    shutil.rmtree(small_folder, ignore_errors=True)
    small_folder.mkdir(parents=True)
    for path in paths[: len(paths) // 4]:
        shutil.copy(path, small_folder / path.name)
    quarter_rate, _, quarter_peak = viewbox_import(small_folder, args.workdir / "data-quarter")
    shutil.rmtree(args.workdir / "data-quarter", ignore_errors=True)
    # Rounds interleave the three measurements: this machine's speed drifts by up to 2x within
    # minutes, and a ratio of neighbours is steadier than one of distant runs.
    rounds = []
    for _ in range(args.rounds):
        subprocess.run(["sync"], check=True)
        read_rate = ceiling(paths)
        subprocess.run(["sync"], check=True)
        rate, report, peak = viewbox_import(corpus, args.workdir / "data")
        shutil.rmtree(args.workdir / "data", ignore_errors=True)
        link_rate, _, _ = viewbox_import(corpus, args.workdir / "data", "--link")
        shutil.rmtree(args.workdir / "data", ignore_errors=True)
        copy_rate = copy_ceiling(corpus, args.workdir / "copy")
        rounds.append((read_rate, copy_rate, rate, peak, link_rate))
    print(f"corpus: {len(paths)} CT files, {size_mb:.0f} MB; {args.rounds} rounds, medians")
    print(f"{'what':44s} {'files/s':>10s} {'peak RSS MiB':>13s}")
    read_rate, copy_rate, rate = (statistics.median(r[i] for r in rounds) for i in range(3))
    peak = max(r[3] for r in rounds)
    link_rate = statistics.median(r[4] for r in rounds)
    print(f"{'pydicom dcmread(stop_before_pixels) ceiling':44s} {read_rate:10.0f} {'':>13s}")
    print(f"{'cp -r + sync (durable copy ceiling)':44s} {copy_rate:10.0f} {'':>13s}")
    print(f"{'viewbox import (quarter corpus, once)':44s} {quarter_rate:10.0f} {quarter_peak / 1024:13.0f}")
    print(f"{'viewbox import (whole corpus)':44s} {rate:10.0f} {peak / 1024:13.0f}")
    print(f"{'viewbox import --link (hard links, no copy)':44s} {link_rate:10.0f} {'':>13s}")
    to_read = statistics.median(r[2] / r[0] for r in rounds)
    to_copy = statistics.median(r[2] / r[1] for r in rounds)
    link_to_read = statistics.median(r[4] / r[0] for r in rounds)
    print(f"viewbox import / header-read ceiling: {to_read:.0%}; / durable-copy ceiling: {to_copy:.0%}; "
          f"--link / header-read ceiling: {link_to_read:.0%}")
    print(f"(medians of the per-round ratios; imported {report['imported']}, errors {len(report['errors'])})")


if __name__ == "__main__":
    main()

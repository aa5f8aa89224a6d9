"""Benchmark: ROI statistics of an ellipse on a 512×512 CT slice, cold and warm.

Cold: the file opened and the frame decoded for the measurement (a fresh frame cache each time),
as when a measurement is added on an image nobody viewed yet. Warm: the decoded frame already in
the cache (the viewer just showed it), so only the mask and the statistics are computed. The peer
in the same run is the plain pydicom way: `dcmread`, `pixel_array`, `apply_modality_lut`, a
numpy mask and mean/std over it.

Run: `python bench/bench_roi.py` (`--runs N`).
"""

from __future__ import annotations

import argparse
import statistics as stats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.pixels import apply_modality_lut

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from helpers.phantoms import SpherePhantom, write_ct  # noqa: E402 (the tests' phantom generator)
from viewbox.measure import statistics  # noqa: E402
from viewbox.render import FrameCache  # noqa: E402


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {stats.median(ordered) * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms"


def timed(action, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    phantom = SpherePhantom(noise=10.0, slices=1)
    with tempfile.TemporaryDirectory() as folder:
        path = write_ct(phantom, Path(folder))[0]
        c, r = phantom.centre, 0.8 * phantom.radius / phantom.spacing
        points = [(c - r, c - r), (c + r, c + r)]

        def viewbox_cold():
            source, decoded = FrameCache().frame(path)
            return statistics.measure("ellipse", points, source, decoded)

        warm_cache = FrameCache()
        warm_cache.frame(path)

        def viewbox_warm():
            source, decoded = warm_cache.frame(path)
            return statistics.measure("ellipse", points, source, decoded)

        def pydicom_cold():
            ds = dcmread(path)
            values = apply_modality_lut(ds.pixel_array, ds)
            yy, xx = np.mgrid[0:ds.Rows, 0:ds.Columns] + 0.5
            inside = ((xx - c) / r) ** 2 + ((yy - c) / r) ** 2 <= 1.0
            return float(values[inside].mean()), float(values[inside].std())

        assert abs(viewbox_cold()["mean"]["value"] - pydicom_cold()[0]) < 1e-6
        print(f"ROI statistics, ellipse of {int(np.pi * r * r)} px on a {phantom.size}x{phantom.size} CT, {args.runs} runs")
        print(f"  Viewbox cold (open, decode, measure)  {percentiles(timed(viewbox_cold, args.runs))}")
        print(f"  Viewbox warm (frame cached)           {percentiles(timed(viewbox_warm, args.runs))}")
        print(f"  pydicom cold (dcmread, LUT, mask)     {percentiles(timed(pydicom_cold, args.runs))}")


if __name__ == "__main__":
    main()

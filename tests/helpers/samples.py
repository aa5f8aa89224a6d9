"""The sample corpus the tests use (tests/data/samples, with its MANIFEST.tsv and licences)."""

from __future__ import annotations

import csv
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def manifest() -> list[dict[str, str]]:
    """One row per sample file, as MANIFEST.tsv describes it."""
    with open(SAMPLES / "MANIFEST.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))

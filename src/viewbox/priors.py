"""Comparison with the prior study: which earlier study of the patient, and which of its series
goes beside each series of the current one.

The prior is the patient's (same Patient ID) most recent study dated before the current one.
Series pair by modality first, then by how alike their descriptions are ("Thorax 1.0 B31f" finds
"THORAX 1.0 B31F" or "Thorax 1.5 B31f" before "Abdomen"), then by series number; each prior
series is used once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from .library import queries
from .station import Station

# Below this description likeness, two series of one modality still pair, but only when nothing
# better is left (the radiologist can switch the series in either viewer).
_LIKENESS_FLOOR = 0.0


def prior_study(workstation: Station, study: dict) -> dict | None:
    """The patient's most recent study before `study` (by study date; undated studies last)."""
    if not study.get("patient_id"):
        return None
    others = [s for s in queries.find_studies(workstation.database, patient_id=study["patient_id"])
              if s["pk"] != study["pk"]]
    if study.get("date") is not None:
        earlier = [s for s in others if s.get("date") is not None and s["date"] < study["date"]]
        if earlier:
            return max(earlier, key=lambda s: s["date"])
        return None
    return others[0] if others else None


def _words(description: str | None) -> str:
    return " ".join(re.findall(r"[a-z0-9.]+", (description or "").lower()))


def _likeness(a: dict, b: dict) -> float:
    return SequenceMatcher(None, _words(a.get("series_description")), _words(b.get("series_description"))).ratio()


def pair_series(current: Sequence[dict], prior: Sequence[dict]) -> list[tuple[dict, dict | None]]:
    """Each current series with its prior counterpart (or None), in the current series' order."""
    candidates = []
    for i, now in enumerate(current):
        for j, before in enumerate(prior):
            if (now.get("modality") or "") != (before.get("modality") or ""):
                continue
            likeness = _likeness(now, before)
            distance = abs((now.get("series_number") or 0) - (before.get("series_number") or 0))
            candidates.append((-likeness, distance, i, j))
    candidates.sort()
    chosen: dict[int, int] = {}
    used: set[int] = set()
    for negative_likeness, _, i, j in candidates:
        if i in chosen or j in used or -negative_likeness < _LIKENESS_FLOOR:
            continue
        chosen[i] = j
        used.add(j)
    return [(now, prior[chosen[i]] if i in chosen else None) for i, now in enumerate(current)]

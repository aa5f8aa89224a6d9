"""The DICOM JSON model (PS3.18 F.2): attributes as `{"GGGGEEEE": {"vr": …, "Value": […]}}`.

Query answers are built straight from database rows (no pydicom Dataset per match: QIDO answers
carry hundreds of them); whole headers (metadata, unmapped return keys) go through pydicom's own
encoder, with bulk data replaced by BulkDataURIs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ..errors import BadRequest

_NUMBERS = {"US": int, "UL": int, "SS": int, "SL": int, "UV": int, "SV": int, "IS": int,
            "DS": float, "FL": float, "FD": float}


@functools.lru_cache(maxsize=4096)
def attribute(name: str) -> tuple[int, str, str]:
    """(tag, keyword, VR) of an attribute given by keyword (`PatientName`) or tag (`00100010`);
    BadRequest when it is neither."""
    text = name.strip()
    tag = tag_for_keyword(text)
    if tag is None and len(text) == 8:
        try:
            tag = int(text, 16)
        except ValueError:
            tag = None
    if tag is None:
        raise BadRequest(f"{name!r} is not a DICOM attribute keyword or tag")
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        vr = "UN"
    return tag, keyword_for_tag(tag) or f"{tag:08X}", vr.split(" or ")[0]


def tag_key(tag: int) -> str:
    return f"{tag:08X}"


def _person_name(text: str) -> dict:
    groups = dict(zip(("Alphabetic", "Ideographic", "Phonetic"), text.split("="), strict=False))
    return {key: value for key, value in groups.items() if value}


def _one(vr: str, value):
    if isinstance(value, datetime):
        return value.strftime("%H%M%S") if vr == "TM" else value.strftime("%Y%m%d")
    if vr == "PN":
        return _person_name(str(value))
    number = _NUMBERS.get(vr)
    if number is not None:
        try:
            return number(value)
        except (TypeError, ValueError):
            return None
    return str(value)


def element(vr: str, value) -> dict:
    """One attribute's JSON object; None, "" and [] give an attribute without a Value."""
    values = value if isinstance(value, (list, tuple)) else [value]
    encoded = [_one(vr, v) for v in values if v is not None and v != ""]
    encoded = [v for v in encoded if v is not None and v != {}]
    return {"vr": vr, "Value": encoded} if encoded else {"vr": vr}


def add(answer: dict, keyword: str, value) -> None:
    """Set an attribute of a JSON data set by keyword (from its dictionary VR)."""
    tag, _, vr = attribute(keyword)
    answer[tag_key(tag)] = element(vr, value)


def dataset_json(dataset, bulk_uri: Callable[[object], str] | None = None,
                 threshold: int = 1024) -> dict:
    """A pydicom Dataset in the JSON model; binary values over `threshold` bytes become
    BulkDataURIs from `bulk_uri(element)` (inline base64 when no `bulk_uri`)."""
    if bulk_uri is None:
        return dataset.to_json_dict(bulk_data_threshold=2**31)
    return dataset.to_json_dict(bulk_data_threshold=threshold, bulk_data_element_handler=bulk_uri)


def sorted_dataset(answer: dict) -> dict:
    """Attributes in tag order, as PS3.18 F.2 asks."""
    return dict(sorted(answer.items()))

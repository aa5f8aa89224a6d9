"""Every element of a stored file's header as a tree, for the DICOM tag browser: tag, VR, keyword,
value (shortened), and the items of sequences nested below."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

MAX_VALUE_CHARS = 256
MAX_ITEMS = 200  # of one sequence: a browser shows the start of a huge sequence, says how many


def tag_tree(path: Path) -> list[dict]:
    """The file meta information and the dataset (without Pixel Data's bytes) as nested dicts."""
    dataset = dcmread(path, force=True)
    meta = getattr(dataset, "file_meta", None)
    return ([*_elements(meta)] if meta is not None else []) + _elements(dataset)


def _elements(dataset: Dataset) -> list[dict]:
    return [_element(element) for element in dataset]


def _element(element: DataElement) -> dict:
    out: dict[str, object] = {"tag": f"({element.tag.group:04X},{element.tag.element:04X})", "vr": element.VR,
           "keyword": element.keyword or ("private" if element.tag.is_private else "unknown"),
           "name": element.name}
    if element.VR == "SQ":
        items = list(element.value or [])
        out["items"] = [_elements(item) for item in items[:MAX_ITEMS]]
        out["value"] = f"{len(items)} item{'s' if len(items) != 1 else ''}"
    elif element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or element.tag == 0x7FE00010:
        value = element.value
        out["value"] = f"<{len(value)} bytes>" if isinstance(value, bytes | bytearray) else "<binary>"
    else:
        text = str(element.value) if element.value is not None else ""
        out["value"] = text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"
    return out

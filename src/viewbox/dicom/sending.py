"""Sending stored objects to a peer (C-MOVE and C-GET sub-operations, SendStudy): which
presentation contexts to propose, and decoding an object the peer accepted only uncompressed."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import build_context

from ..transfer_syntaxes import NATIVE


def storage_contexts(stored: Iterable[tuple[str, str | None]]) -> list:
    """Presentation contexts to send stored objects (C-MOVE, SendStudy), from their (SOP class,
    stored transfer syntax): one per pair, and for SOP classes stored compressed one more offering
    them uncompressed, which fit_to_contexts falls back to when the destination takes no
    compressed syntax. At most 128; the stored syntaxes come first."""
    pairs = list(dict.fromkeys((sop_class, ts or NATIVE[0]) for sop_class, ts in stored if sop_class))
    compressed = dict.fromkeys(sop_class for sop_class, ts in pairs if ts not in NATIVE)
    contexts = [build_context(sop_class, [ts]) for sop_class, ts in pairs]
    contexts += [build_context(sop_class, list(NATIVE)) for sop_class in compressed]
    return contexts[:128]


def fit_to_contexts(dataset: Dataset, contexts) -> Dataset:
    """Decompress a dataset when the peer accepted its SOP class only uncompressed.

    Objects are sent as stored whenever the peer accepts that; otherwise pynetdicom would fail
    the sub-operation, so the pixel data is decoded (pydicom's codecs) into what was accepted.
    """
    sop_class = str(dataset.get("SOPClassUID", ""))
    stored = str(dataset.file_meta.get("TransferSyntaxUID", ""))
    accepted = {str(cx.transfer_syntax[0]) for cx in contexts if cx.abstract_syntax == sop_class}
    if stored in accepted or not accepted:
        return dataset
    target = next((ts for ts in NATIVE if ts in accepted), None)
    if target is None:
        return dataset
    if dataset.file_meta.TransferSyntaxUID.is_compressed:
        dataset.decompress()
    dataset.file_meta.TransferSyntaxUID = UID(target)
    return dataset

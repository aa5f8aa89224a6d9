"""Reading one DICOM file's header into the Study/Series/Image fields the database keeps.

Decides, for every candidate file, one of three fates: a storable instance, "not DICOM" (skipped
and counted), or "DICOM but unusable" (ImportFailure → quarantine with the reason).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pydicom
import pydicom.config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import data_element_generator

from ..errors import ImportFailure

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# ISO 2022 escape sequences that some decoders leave in the text (e.g. ESC $ ) A for GB2312).
_ISO2022_ESCAPE = re.compile(r"\x1b[$()*+\-./]{1,2}[@-~]")
_DEFLATED = "1.2.840.10008.1.2.1.99"

# Real files break the value rules all the time; the workstation stores them anyway.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE


class NotDicom(Exception):
    """The file is not a DICOM file at all (skipped, not quarantined)."""


@dataclass
class Instance:
    """The header of one stored object, split by the table each value belongs to."""

    study: dict
    series: dict
    image: dict
    dataset: Dataset  # header only (no pixel data) unless it came from the network

    @property
    def sop_instance_uid(self) -> str:
        return self.image["sop_instance_uid"]

    @property
    def study_instance_uid(self) -> str:
        return self.study["study_instance_uid"]

    @property
    def series_instance_uid(self) -> str:
        return self.series["series_instance_uid"]

    def relative_path(self) -> str:
        """UID-derived path of the stored file inside DATABASE/."""
        parts = [_safe_component(self.study_instance_uid), _safe_component(self.series_instance_uid),
                 _safe_component(self.sop_instance_uid) + ".dcm"]
        return "/".join(parts)


def _safe_component(uid: str) -> str:
    if _UID.match(uid) and len(uid) <= 64:
        return uid
    import hashlib

    return "x" + hashlib.sha1(uid.encode("utf-8", "surrogateescape")).hexdigest()


def looks_like_dicom(head: bytes) -> bool:
    """Part 10 files carry 'DICM' at 128; ACR-NEMA style files start with a group 0002/0008 tag."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    group_le, = struct.unpack("<H", head[:2])
    group_be, = struct.unpack(">H", head[:2])
    return group_le in (0x0002, 0x0008) or group_be == 0x0008


def read_instance(path: Path) -> Instance:
    """Read a file's header; raise NotDicom or ImportFailure (with the reason) when unusable."""
    with open(path, "rb") as fp:
        head = fp.read(132)
        if not looks_like_dicom(head):
            raise NotDicom(str(path))
        fp.seek(0)
        size = os.fstat(fp.fileno()).st_size
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
                _check_complete(fp, ds, size)
        except ImportFailure:
            raise
        except (InvalidDicomError, OSError, ValueError, KeyError, TypeError, EOFError,
                struct.error, AttributeError, IndexError, NotImplementedError) as exc:
            raise ImportFailure(f"unreadable DICOM: {type(exc).__name__}: {exc}") from exc
    if _is_dicomdir(ds):
        raise NotDicom("DICOMDIR")
    return instance_from_dataset(ds)


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return bool(meta is not None and meta.get("MediaStorageSOPClassUID") == "1.2.840.10008.1.3.10") or (
        "DirectoryRecordSequence" in ds
    )


def _check_complete(fp: BinaryIO, ds: Dataset, size: int) -> None:
    """Refuse files cut short: Pixel Data or the last element longer than what the file holds."""
    position = fp.tell()
    if position < size:  # stopped before Pixel Data: its declared length must fit
        fp.seek(position)
        header = fp.read(12)
        if len(header) < 8:
            raise ImportFailure("truncated: Pixel Data header cut short")
        little = ds.is_little_endian if ds.is_little_endian is not None else True
        implicit = ds.is_implicit_VR if ds.is_implicit_VR is not None else False
        fmt = "<" if little else ">"
        if implicit:
            length, offset = struct.unpack(fmt + "L", header[4:8])[0], 8
        elif header[4:6] in (b"OB", b"OW", b"OF", b"OD", b"OL", b"UN", b"OV"):
            length, offset = struct.unpack(fmt + "L", header[8:12])[0], 12
        else:
            length, offset = struct.unpack(fmt + "H", header[6:8])[0], 8
        if length != 0xFFFFFFFF and position + offset + length > size:
            raise ImportFailure(
                f"truncated: Pixel Data declares {length} bytes, the file holds "
                f"{max(size - position - offset, 0)}"
            )
        return
    # No pixel data: walk the top-level elements again and check each declared length fits.
    meta = getattr(ds, "file_meta", None)
    start = _dataset_start(fp, ds)
    if start is None or (meta is not None and meta.get("TransferSyntaxUID") == _DEFLATED):
        return
    fp.seek(start)
    little = ds.is_little_endian if ds.is_little_endian is not None else True
    implicit = ds.is_implicit_VR if ds.is_implicit_VR is not None else False
    for raw in data_element_generator(fp, implicit, little, defer_size=None):
        length = getattr(raw, "length", None)  # parsed sequences come back as DataElements
        if length not in (None, 0xFFFFFFFF) and raw.value is not None and len(raw.value) < length:
            raise ImportFailure(f"truncated: element {raw.tag} declares {raw.length} bytes, "
                                f"the file holds {len(raw.value)}")


def _dataset_start(fp: BinaryIO, ds: Dataset) -> int | None:
    meta = getattr(ds, "file_meta", None)
    fp.seek(0)
    head = fp.read(132)
    if head[128:132] != b"DICM":
        return 0
    if meta is None or "FileMetaInformationGroupLength" not in meta:
        return None
    return 132 + 12 + int(meta.FileMetaInformationGroupLength)


# Every element instance_from_dataset reads (top level, and CodeMeaning inside a code item):
# a received dataset is parsed for these only. `_value` refuses any other keyword, so a field
# added below without being listed here fails loudly instead of silently reading nothing.
HEADER_KEYWORDS = (
    "SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID",
    "SeriesInstanceUID", "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "Modality",
    "AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate", "AcquisitionTime", "ContentTime",
    "SeriesTime", "StudyTime", "StudyDescription", "ProcedureCodeSequence", "CodeMeaning",
    "SeriesDescription", "PerformedProcedureStepDescription",
    "AcquisitionDeviceProcessingDescription", "StudyID", "AccessionNumber",
    "ReferringPhysicianName", "PerformingPhysicianName", "InstitutionName", "StudyComments",
    "ProtocolName", "SeriesNumber", "InstanceNumber", "NumberOfFrames", "Columns", "Rows",
    "ImageComments", "SliceLocation", "ImagePositionPatient", "ImageOrientationPatient",
)
_TAGS: dict[str, int] = {keyword: pydicom.datadict.tag_for_keyword(keyword) for keyword in HEADER_KEYWORDS}
HEADER_TAGS = sorted(_TAGS.values())
_PIXEL_DATA_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010}


def _value(ds: Dataset, keyword: str):
    """An element's value by keyword, looked up by tag (pydicom's keyword path is slow)."""
    tag = _TAGS[keyword]
    if tag not in ds:
        return None
    return ds[tag].value


def read_received_header(dataset: BinaryIO, transfer_syntax: str) -> Dataset:
    """The header elements instance_from_dataset needs, from an encoded dataset without file
    meta (a C-STORE's data set, read from its start); the transfer syntax becomes its file meta.

    Only the HEADER_TAGS are kept (pydicom skips the other values); it stops at the pixel data.
    Raises ImportFailure when the dataset is unreadable.
    """
    try:
        uid = pydicom.uid.UID(transfer_syntax)
        if uid == _DEFLATED:
            raise ValueError("a deflated dataset is read with its file meta (dcmread)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.seek(0)
            ds = pydicom.filereader.read_dataset(
                dataset, uid.is_implicit_VR, uid.is_little_endian,
                stop_when=lambda tag, vr, length: tag in _PIXEL_DATA_TAGS,
                specific_tags=list(HEADER_TAGS))
    except Exception as exc:
        raise ImportFailure(f"unreadable DICOM: {type(exc).__name__}: {exc}") from exc
    meta = pydicom.dataset.FileMetaDataset()
    meta.TransferSyntaxUID = uid
    ds.file_meta = meta
    return ds


# Text VRs whose single ASCII value pydicom turns into the same text as decoding it plainly
# (after the strip below); PN and multiple values take pydicom's way.
_PLAIN_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UT"})
_DICTIONARY_VRS = {tag: pydicom.datadict.dictionary_VR(tag) for tag in HEADER_TAGS}


def _text(ds: Dataset, keyword: str) -> str | None:
    element = ds.get_item(_TAGS[keyword])
    if element is None:
        return None
    raw = element.value
    if (type(element) is RawDataElement and type(raw) is bytes
            and (element.VR or _DICTIONARY_VRS[element.tag]) in _PLAIN_TEXT_VRS
            and raw.isascii() and b"\\" not in raw and b"\x1b" not in raw):
        # Not converted yet: ~10x cheaper than pydicom's conversion, same text.
        return raw.decode("ascii").strip().strip("\x00").strip() or None
    value = _value(ds, keyword)
    if value is None or value == "":
        return None
    if isinstance(value, pydicom.multival.MultiValue):
        value = "\\".join(str(v) for v in value)
    text = _ISO2022_ESCAPE.sub("", str(value)).strip().strip("\x00").strip()
    return text or None


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = _value(ds, keyword)
        if value is None or value == "":
            return None
        if isinstance(value, pydicom.multival.MultiValue):
            value = value[0]
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _date(date_text: str | None, time_text: str | None = None) -> datetime | None:
    """DICOM DA (+ optional TM) → naive datetime; a date alone means noon (OsiriX)."""
    if not date_text:
        return None
    digits = date_text.replace(".", "").replace("-", "").strip()[:8]
    try:
        day = datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        return None
    if not time_text:
        return day.replace(hour=12)
    clock = time_text.replace(":", "").strip().split(".")[0]
    try:
        hour = int(clock[0:2]) if len(clock) >= 2 else 0
        minute = int(clock[2:4]) if len(clock) >= 4 else 0
        second = int(clock[4:6]) if len(clock) >= 6 else 0
        return day.replace(hour=min(hour, 23), minute=min(minute, 59), second=min(second, 59))
    except ValueError:
        return day.replace(hour=12)


def _first_text(ds: Dataset, keywords: tuple[str, ...]) -> str | None:
    for keyword in keywords:
        text = _text(ds, keyword)
        if text:
            return text
    return None


def _image_date(ds: Dataset) -> datetime | None:
    """First of Acquisition/Content/Series/Study date with the first of the matching times."""
    date = _first_text(ds, ("AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate"))
    time = _first_text(ds, ("AcquisitionTime", "ContentTime", "SeriesTime", "StudyTime"))
    return _date(date, time)


def _patient_uid(name: str | None, patient_id: str | None, birth: datetime | None) -> str:
    first = (name or "").split("=")[0].replace("-", " ")
    parts = [first, patient_id or "", birth.strftime("%Y%m%d") if birth else ""]
    return "-".join(parts).upper()


def instance_from_dataset(ds: Dataset) -> Instance:
    """Split a dataset's header into Study/Series/Image values; ImportFailure if it has no UIDs."""
    try:
        sop_uid = _text(ds, "SOPInstanceUID")
        if not sop_uid:
            raise ImportFailure("no SOP Instance UID")
        study_uid = _text(ds, "StudyInstanceUID")
        series_uid = _text(ds, "SeriesInstanceUID")
        if not study_uid or not series_uid:
            raise ImportFailure("no Study or Series Instance UID")
        name = _text(ds, "PatientName")
        patient_id = _text(ds, "PatientID")
        birth = _date(_text(ds, "PatientBirthDate"))
        modality = _text(ds, "Modality") or "OT"
        image_date = _image_date(ds)
        meta = getattr(ds, "file_meta", None)
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        study_description = _text(ds, "StudyDescription")
        if not study_description:
            codes = _value(ds, "ProcedureCodeSequence")
            if codes:
                study_description = _text(codes[0], "CodeMeaning")
        series_description = (_text(ds, "SeriesDescription")
                              or _text(ds, "PerformedProcedureStepDescription")
                              or _text(ds, "AcquisitionDeviceProcessingDescription"))
        study = {
            "study_instance_uid": study_uid,
            "patient_name": name,
            "patient_id": patient_id,
            "patient_birth_date": birth,
            "patient_sex": _text(ds, "PatientSex"),
            "patient_uid": _patient_uid(name, patient_id, birth),
            "study_id": _text(ds, "StudyID"),
            "accession_number": _text(ds, "AccessionNumber"),
            "study_description": study_description or series_description,
            "referring_physician_name": _text(ds, "ReferringPhysicianName"),
            "performing_physician_name": _text(ds, "PerformingPhysicianName"),
            "institution_name": _text(ds, "InstitutionName"),
            "comment": _text(ds, "StudyComments"),
        }
        series = {
            "series_instance_uid": series_uid,
            "series_description": series_description,
            "protocol_name": _text(ds, "ProtocolName"),
            "series_number": _int(ds, "SeriesNumber"),
            "modality": modality,
            "sop_class_uid": _text(ds, "SOPClassUID"),
        }
        image = {
            "sop_instance_uid": sop_uid,
            "sop_class_uid": _text(ds, "SOPClassUID"),
            "transfer_syntax_uid": str(ts) if ts else None,
            "instance_number": _int(ds, "InstanceNumber"),
            "number_of_frames": _int(ds, "NumberOfFrames") or 1,
            "columns": _int(ds, "Columns"),
            "rows": _int(ds, "Rows"),
            "modality": modality,
            "slice_location": _slice_location(ds),
            "date": image_date,
            "comment": _text(ds, "ImageComments"),
        }
    except ImportFailure:
        raise
    except Exception as exc:  # a value pydicom cannot decode: the header is unusable
        raise ImportFailure(f"unreadable header value: {type(exc).__name__}: {exc}") from exc
    return Instance(study=study, series=series, image=image, dataset=ds)


def _slice_location(ds: Dataset) -> float | None:
    try:
        value = _value(ds, "SliceLocation")
        if value not in (None, ""):
            return float(value)
        position = _value(ds, "ImagePositionPatient")
        orientation = _value(ds, "ImageOrientationPatient")
        if position and orientation and len(position) == 3 and len(orientation) == 6:
            row = [float(v) for v in orientation[:3]]
            col = [float(v) for v in orientation[3:]]
            normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                      row[0] * col[1] - row[1] * col[0])
            return sum(float(p) * n for p, n in zip(position, normal))
    except (TypeError, ValueError):
        return None
    return None

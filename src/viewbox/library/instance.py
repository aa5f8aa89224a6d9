"""Reading one DICOM file's header into the Study/Series/Image fields the database keeps.

Decides, for every candidate file, one of three fates: a storable instance, "not DICOM" (skipped
and counted), or "DICOM but unusable" (ImportFailure → quarantine with the reason).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from collections.abc import MutableSequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from ..errors import ImportFailure
from ..pydicom_setup import lenient_pydicom
from ..transfer_syntaxes import BIG_ENDIAN, DEFLATED, IMPLICIT_LITTLE
from .scan import (
    PIXEL_DATA_TAGS,
    Header,
    NeedMore,
    RawElement,
    Unusual,
    scan_dataset,
    scan_file,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# What an object's UIDs may hold to be stored at all. Looser than the standard (letters, '-', '_',
# up to 128 characters: real archives carry such UIDs and refusing them would lose studies), but
# never a path separator, white space, control or non-ASCII character: such a "UID" is junk or
# an attack on whatever names files after it (docs/configuration.md, "What is refused at import").
_PLAUSIBLE_UID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,127}$")
# ISO 2022 escape sequences that some decoders leave in the text (e.g. ESC $ ) A for GB2312).
_ISO2022_ESCAPE = re.compile(r"\x1b[$()*+\-./]{1,2}[@-~]")
_DICOMDIR = "1.2.840.10008.1.3.10"


class NotDicom(Exception):
    """The file is not a DICOM file at all (skipped, not quarantined)."""


@dataclass
class Instance:
    """The header of one stored object, split by the table each value belongs to."""

    study: dict
    series: dict
    image: dict

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
        parts = [uid_file_name(self.study_instance_uid), uid_file_name(self.series_instance_uid),
                 uid_file_name(self.sop_instance_uid) + ".dcm"]
        return "/".join(parts)


def uid_file_name(uid: str) -> str:
    """A file name for a UID: the UID itself when it is a plain UID, else a hash of it, so that
    whatever an object's attributes say (`../x`, `/etc/x`), the name stays in its folder."""
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
        return read_instance_from(fp, str(path))


def read_instance_from(fp: BinaryIO, name: str, size: int | None = None) -> Instance:
    """read_instance on an open file (of `size` bytes, when the caller knows): the fast walk when
    it can, pydicom when it cannot."""
    head = fp.read(132)
    if not looks_like_dicom(head):
        raise NotDicom(name)
    if size is None:
        size = os.fstat(fp.fileno()).st_size
    fp.seek(0)
    return _instance(_scanned_header(fp, size), fp, size)


def read_part10(encoded: bytes) -> Instance:
    """The instance of a Part 10 object held in memory (from the network); ImportFailure when
    it is unusable."""
    try:
        header = scan_file(encoded, _SCANNED_TAGS, complete=True)
    except Unusual:
        header = None
    try:
        return _instance(header, BytesIO(encoded), len(encoded))
    except NotDicom as exc:
        raise ImportFailure(f"not a storable object: {exc}") from exc


def _instance(header: Header | None, fp: BinaryIO, size: int) -> Instance:
    """From the fast walk's header when there is one; else, or when it is unusable, from pydicom's
    full read, which gives the reason the user sees."""
    if header is not None:
        if header.sop_class_in_meta == _DICOMDIR or _DIRECTORY_RECORDS in header.elements:
            raise NotDicom("DICOMDIR")
        try:
            return instance_from_header(header.elements, header.transfer_syntax)
        except ImportFailure:
            pass
    fp.seek(0)
    pydicom = lenient_pydicom()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
            _check_complete(fp, ds, size)
            dicomdir = _is_dicomdir(ds)
        if dicomdir:
            raise NotDicom("DICOMDIR")
        return instance_from_dataset(ds)
    except (ImportFailure, NotDicom):
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many unrelated types for bad files
        raise ImportFailure(f"unreadable DICOM: {type(exc).__name__}: {exc}") from exc


_FIRST_READ = 64 * 1024
_WHOLE_FILE_LIMIT = 64 * 1024 * 1024


def _scanned_header(fp: BinaryIO, size: int) -> Header | None:
    """The header elements by the fast walk (scan.py), or None when pydicom must read the file.

    Reads 64 KiB, which holds almost every header before its pixel data; a longer header is read
    whole when the file is not huge.
    """
    buffer = fp.read(min(size, _FIRST_READ))
    try:
        try:
            return scan_file(buffer, _SCANNED_TAGS, complete=len(buffer) >= size)
        except NeedMore:
            if size > _WHOLE_FILE_LIMIT:
                return None
            return scan_file(buffer + fp.read(), _SCANNED_TAGS, complete=True)
    except Unusual:
        return None


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return bool(meta is not None and meta.get("MediaStorageSOPClassUID") == _DICOMDIR) or (
        _DIRECTORY_RECORDS in ds
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
    if start is None or (meta is not None and meta.get("TransferSyntaxUID") == DEFLATED):
        return
    fp.seek(start)
    little = ds.is_little_endian if ds.is_little_endian is not None else True
    implicit = ds.is_implicit_VR if ds.is_implicit_VR is not None else False
    for raw in lenient_pydicom().filereader.data_element_generator(fp, implicit, little, defer_size=None):
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


# Every element instance_from_header reads (top level, and CodeMeaning inside a code item): the
# fast walk keeps these only. `_TAGS[keyword]` refuses any other keyword, so a field added below
# without being listed here fails loudly instead of silently reading nothing.
_HEADER = {  # keyword: (tag, dictionary VR); test_library checks them against pydicom's dictionary
    "SpecificCharacterSet": (0x00080005, "CS"),
    "SOPClassUID": (0x00080016, "UI"),
    "SOPInstanceUID": (0x00080018, "UI"),
    "StudyInstanceUID": (0x0020000D, "UI"),
    "SeriesInstanceUID": (0x0020000E, "UI"),
    "PatientName": (0x00100010, "PN"),
    "PatientID": (0x00100020, "LO"),
    "PatientBirthDate": (0x00100030, "DA"),
    "PatientSex": (0x00100040, "CS"),
    "Modality": (0x00080060, "CS"),
    "AcquisitionDate": (0x00080022, "DA"),
    "ContentDate": (0x00080023, "DA"),
    "SeriesDate": (0x00080021, "DA"),
    "StudyDate": (0x00080020, "DA"),
    "AcquisitionTime": (0x00080032, "TM"),
    "ContentTime": (0x00080033, "TM"),
    "SeriesTime": (0x00080031, "TM"),
    "StudyTime": (0x00080030, "TM"),
    "StudyDescription": (0x00081030, "LO"),
    "ProcedureCodeSequence": (0x00081032, "SQ"),
    "CodeMeaning": (0x00080104, "LO"),
    "SeriesDescription": (0x0008103E, "LO"),
    "PerformedProcedureStepDescription": (0x00400254, "LO"),
    "AcquisitionDeviceProcessingDescription": (0x00181400, "LO"),
    "StudyID": (0x00200010, "SH"),
    "AccessionNumber": (0x00080050, "SH"),
    "ReferringPhysicianName": (0x00080090, "PN"),
    "PerformingPhysicianName": (0x00081050, "PN"),
    "InstitutionName": (0x00080080, "LO"),
    "StudyComments": (0x00324000, "LT"),
    "ProtocolName": (0x00181030, "LO"),
    "SeriesNumber": (0x00200011, "IS"),
    "InstanceNumber": (0x00200013, "IS"),
    "NumberOfFrames": (0x00280008, "IS"),
    "Columns": (0x00280011, "US"),
    "Rows": (0x00280010, "US"),
    "ImageComments": (0x00204000, "LT"),
    "SliceLocation": (0x00201041, "DS"),
    "ImagePositionPatient": (0x00200032, "DS"),
    "ImageOrientationPatient": (0x00200037, "DS"),
}
_TAGS: dict[str, int] = {keyword: tag for keyword, (tag, _) in _HEADER.items()}
_DICTIONARY_VRS: dict[int, str] = {tag: vr for tag, vr in _HEADER.values()}
HEADER_TAGS = sorted(_TAGS.values())
_DIRECTORY_RECORDS = 0x00041220  # only a DICOMDIR has it
_SCANNED_TAGS = frozenset(HEADER_TAGS) | {_DIRECTORY_RECORDS}


def read_received(dataset: BytesIO, transfer_syntax: str) -> Instance:
    """The instance of a C-STORE's encoded data set (no file meta, read from its start).

    The fast walk reads the header elements; pydicom reads what it cannot (big endian) and gives
    the reason when the data set is unusable (ImportFailure). A deflated data set is read with
    its file meta instead (dcmread), not here.
    """
    if transfer_syntax == DEFLATED:
        raise ImportFailure("a deflated data set is read with its file meta")
    if transfer_syntax != BIG_ENDIAN:
        try:
            with dataset.getbuffer() as buffer:
                elements, _ = scan_dataset(buffer, 0, transfer_syntax == IMPLICIT_LITTLE, _SCANNED_TAGS)
            return instance_from_header(elements, transfer_syntax)
        except (Unusual, ImportFailure):
            pass
    pydicom = lenient_pydicom()
    try:
        uid = pydicom.uid.UID(transfer_syntax)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset.seek(0)
            ds = pydicom.filereader.read_dataset(
                dataset, uid.is_implicit_VR, uid.is_little_endian,
                stop_when=lambda tag, vr, length: tag in PIXEL_DATA_TAGS,
                specific_tags=list(HEADER_TAGS))
            return instance_from_dataset(ds, transfer_syntax)
    except ImportFailure:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom raises many unrelated types for bad data
        raise ImportFailure(f"unreadable DICOM: {type(exc).__name__}: {exc}") from exc


# Text VRs whose single ASCII value pydicom turns into the same text as decoding it plainly
# (after the strip below); values in a character set also for the VRs that use one.
_PLAIN_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
                             "UI", "UT"})
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_BINARY_INTS = {"US": struct.Struct("<H"), "SS": struct.Struct("<h"), "UL": struct.Struct("<L"),
                "SL": struct.Struct("<l")}
# The first Specific Character Set term → the codec pydicom decodes text without escapes with;
# rarer terms ask pydicom.
_COMMON_CHARSETS = {None: "iso8859", "": "iso8859", "ISO_IR 6": "iso8859", "ISO_IR 100": "latin_1",
                    "ISO_IR 192": "UTF8"}


class _HeaderValues:
    """One header's values by keyword.

    Elements still raw (as read) are decoded here when that gives pydicom's result for certain:
    one value, no ISO 2022 escapes, ASCII or the data set's first character set, little endian.
    That is several times cheaper than pydicom's conversion; anything else takes pydicom's way.
    """

    def __init__(self, elements: dict[int, Any], dataset: Dataset | None = None,
                 encoding: str | None = None):
        self.elements = elements  # tag → RawDataElement or DataElement
        self._dataset = dataset
        self._encoding = encoding

    def _value(self, keyword: str):
        """An element's value as pydicom converts it (with the data set's character set)."""
        tag = _TAGS[keyword]
        if tag not in self.elements:
            return None
        if self._dataset is None:
            pydicom = lenient_pydicom()
            self._dataset = pydicom.Dataset({
                key: pydicom.dataelem.RawDataElement(*element) if type(element) is RawElement else element
                for key, element in self.elements.items()})
        return self._dataset[tag].value

    def _raw(self, keyword: str) -> tuple[bytes, str] | None:
        """The undecoded bytes and VR of a single-valued raw element, else None."""
        element = _raw_element(self.elements.get(_TAGS[keyword]))
        if element is None or not element.is_little_endian:
            return None  # absent, or converted by pydicom already (not a raw element)
        raw = element.value
        if type(raw) is not bytes or b"\\" in raw or b"\x1b" in raw:
            return None
        return raw, element.VR or _DICTIONARY_VRS[element.tag]

    @property
    def encoding(self) -> str | None:
        """Python codec of the first Specific Character Set term (pydicom's choice for text
        without escapes), or None when it is not one Python knows."""
        if self._encoding is None:
            element = self.elements.get(_TAGS["SpecificCharacterSet"])
            terms: list[str | None] = [None]
            if element is not None:
                value = element.value
                if type(value) is bytes:
                    value = value.decode("ascii", "replace")
                terms = [str(t).strip() for t in (value.split("\\") if isinstance(value, str) else value)]
            codec = _COMMON_CHARSETS.get(terms[0] if terms else None)
            if codec is None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        codec = lenient_pydicom().charset.convert_encodings(terms)[0]
                    "".encode(codec)
                except (LookupError, IndexError, ValueError, TypeError):
                    codec = ""
            self._encoding = codec
        return self._encoding or None

    def text(self, keyword: str) -> str | None:
        raw = self._raw(keyword)
        text = None
        if raw is not None:
            encoded, vr = raw
            if vr in _PLAIN_TEXT_VRS and encoded.isascii():
                text = encoded.decode("ascii")
            elif vr in _CHARSET_VRS and self.encoding:
                try:
                    text = encoded.decode(self.encoding)
                except UnicodeDecodeError:
                    text = None
            if text is not None and vr == "PN":
                text = text.rstrip(" \x00").rstrip("=")  # pydicom drops empty trailing component groups
        if text is None:
            value = self._value(keyword)
            if value is None or value == "":
                return None
            if isinstance(value, MutableSequence):
                value = "\\".join(str(v) for v in value)
            text = _ISO2022_ESCAPE.sub("", str(value))
        return text.strip().strip("\x00").strip() or None

    def first_text(self, keywords: tuple[str, ...]) -> str | None:
        for keyword in keywords:
            text = self.text(keyword)
            if text:
                return text
        return None

    def int(self, keyword: str) -> int | None:
        raw = self._raw(keyword)
        try:
            if raw is not None:
                value, vr = raw
                if vr in ("IS", "DS") and value.isascii():
                    value = value.strip(b" \x00")
                    return int(float(value)) if value else None
                if vr in _BINARY_INTS and len(value) >= _BINARY_INTS[vr].size:
                    return _BINARY_INTS[vr].unpack_from(value)[0]
            value = self._value(keyword)
            if value is None or value == "":
                return None
            if isinstance(value, MutableSequence):
                value = value[0]
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None

    def numbers(self, keyword: str) -> list[float] | None:
        """A DS element's values as floats; None when absent or empty."""
        if self.elements.get(_TAGS[keyword]) is None:
            return None
        element = _raw_element(self.elements[_TAGS[keyword]])
        if element is not None and type(element.value) is bytes and element.value.isascii():
            parts = element.value.strip(b" \x00").split(b"\\")
            return [float(part) for part in parts] if parts != [b""] else None
        value = self._value(keyword)
        if value is None or value == "":
            return None
        return [float(v) for v in value] if isinstance(value, MutableSequence) else [float(value)]

    def image_date(self) -> datetime | None:
        """First of Acquisition/Content/Series/Study date with the first of the matching times."""
        date = self.first_text(("AcquisitionDate", "ContentDate", "SeriesDate", "StudyDate"))
        time = self.first_text(("AcquisitionTime", "ContentTime", "SeriesTime", "StudyTime"))
        return _date(date, time)

    def slice_location(self) -> float | None:
        """Slice Location, or the position along the image normal."""
        try:
            location = self.numbers("SliceLocation")
            if location:
                return location[0]
            position = self.numbers("ImagePositionPatient")
            orientation = self.numbers("ImageOrientationPatient")
            if position and orientation and len(position) == 3 and len(orientation) == 6:
                row, col = orientation[:3], orientation[3:]
                normal = (row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2],
                          row[0] * col[1] - row[1] * col[0])
                return sum(p * n for p, n in zip(position, normal, strict=False))
        except (TypeError, ValueError):
            return None
        return None

    def study_description(self) -> str | None:
        description = self.text("StudyDescription")
        if not description:
            codes = self._value("ProcedureCodeSequence")
            if codes:
                item = codes[0]
                description = _HeaderValues({tag: item.get_item(tag) for tag in item.keys()}, item,
                                            self._encoding).text("CodeMeaning")
        return description


def _date(date_text: str | None, time_text: str | None = None) -> datetime | None:
    """DICOM DA (+ optional TM) → naive datetime; a date alone means noon (OsiriX)."""
    if not date_text:
        return None
    digits = date_text.replace(".", "").replace("-", "").strip()[:8]
    try:
        if len(digits) == 8 and digits.isdigit():
            day = datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
        else:
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


def _patient_uid(name: str | None, patient_id: str | None, birth: datetime | None) -> str:
    first = (name or "").split("=")[0].replace("-", " ")
    parts = [first, patient_id or "", birth.strftime("%Y%m%d") if birth else ""]
    return "-".join(parts).upper()


def instance_from_dataset(ds: Dataset, transfer_syntax: str | None = None) -> Instance:
    """Split a pydicom data set's header into Study/Series/Image values (instance_from_header);
    the transfer syntax is the file meta's unless given (a received data set has no file meta)."""
    if transfer_syntax is None:
        meta = getattr(ds, "file_meta", None)
        transfer_syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    return instance_from_header({tag: ds.get_item(tag) for tag in HEADER_TAGS if tag in ds},
                                transfer_syntax, ds)


class _RawLike(Protocol):
    """A raw (undecoded) element: the fast walk's RawElement or pydicom's RawDataElement."""

    tag: int
    VR: str | None
    value: Any
    is_little_endian: bool


def _raw_element(element: object) -> _RawLike | None:
    """The element when it is still raw (a named tuple), None when absent or decoded by pydicom."""
    return cast(_RawLike, element) if isinstance(element, tuple) else None


def instance_from_header(elements: dict[int, Any], transfer_syntax: str | None,
                         dataset: Dataset | None = None) -> Instance:
    """Split header elements (tag → raw or converted element; `dataset` holds them when there
    is one) into Study/Series/Image values; ImportFailure if it has no UIDs."""
    values = _HeaderValues(elements, dataset)
    text = values.text
    try:
        sop_uid = text("SOPInstanceUID")
        if not sop_uid:
            raise ImportFailure("no SOP Instance UID")
        study_uid = text("StudyInstanceUID")
        series_uid = text("SeriesInstanceUID")
        if not study_uid or not series_uid:
            raise ImportFailure("no Study or Series Instance UID")
        for label, uid in (("SOP", sop_uid), ("Study", study_uid), ("Series", series_uid)):
            if not _PLAUSIBLE_UID.match(uid):
                raise ImportFailure(f"the {label} Instance UID {uid[:80]!r} is not a UID")
        name = text("PatientName")
        patient_id = text("PatientID")
        birth = _date(text("PatientBirthDate"))
        modality = text("Modality") or "OT"
        sop_class = text("SOPClassUID")
        series_description = values.first_text(("SeriesDescription", "PerformedProcedureStepDescription",
                                                "AcquisitionDeviceProcessingDescription"))
        study = {
            "study_instance_uid": study_uid,
            "patient_name": name,
            "patient_id": patient_id,
            "patient_birth_date": birth,
            "patient_sex": text("PatientSex"),
            "patient_uid": _patient_uid(name, patient_id, birth),
            "study_id": text("StudyID"),
            "accession_number": text("AccessionNumber"),
            "study_description": values.study_description() or series_description,
            "referring_physician_name": text("ReferringPhysicianName"),
            "performing_physician_name": text("PerformingPhysicianName"),
            "institution_name": text("InstitutionName"),
            "comment": text("StudyComments"),
        }
        series = {
            "series_instance_uid": series_uid,
            "series_description": series_description,
            "protocol_name": text("ProtocolName"),
            "series_number": values.int("SeriesNumber"),
            "modality": modality,
            "sop_class_uid": sop_class,
        }
        image = {
            "sop_instance_uid": sop_uid,
            "sop_class_uid": sop_class,
            "transfer_syntax_uid": str(transfer_syntax) if transfer_syntax else None,
            "instance_number": values.int("InstanceNumber"),
            "number_of_frames": values.int("NumberOfFrames") or 1,
            "columns": values.int("Columns"),
            "rows": values.int("Rows"),
            "modality": modality,
            "slice_location": values.slice_location(),
            "date": values.image_date(),
            "comment": text("ImageComments"),
        }
    except ImportFailure:
        raise
    except Exception as exc:  # a value pydicom cannot decode: the header is unusable
        raise ImportFailure(f"unreadable header value: {type(exc).__name__}: {exc}") from exc
    return Instance(study=study, series=series, image=image)


class StoredHeaders:
    """Headers of stored files (without pixel data), each read once: the return keys of a query
    that the database does not keep come from a representative file of each match (C-FIND and
    QIDO-RS alike)."""

    def __init__(self, files_dir: Path):
        self.files_dir = files_dir
        self._cache: dict[str, Dataset | None] = {}

    def get(self, rel_path: str | None) -> Dataset | None:
        """The header of the file at `rel_path` in DATABASE/, None when there is none to read."""
        if not rel_path:
            return None
        if rel_path not in self._cache:
            pydicom = lenient_pydicom()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._cache[rel_path] = pydicom.dcmread(self.files_dir / rel_path,
                                                            stop_before_pixels=True, force=True)
            except Exception:  # noqa: BLE001 - a missing file only loses optional return keys
                self._cache[rel_path] = None
        return self._cache[rel_path]

"""STOW-RS (PS3.18 10.5): store the DICOM parts of a multipart/related request.

Every part goes through the library's one write path (`stage_received`, then `commit`), exactly
like a C-STORE: the bytes the client sent are kept as they are, only the header is read. A part
that cannot be stored is answered in the Failed SOP Sequence and leaves nothing behind; the
others are stored. Rows are committed in batches, so a large upload shows up as it arrives.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from io import BytesIO

from ..errors import ImportFailure
from ..library.instance import read_part10
from ..pydicom_setup import lenient_pydicom
from .json_model import add, sorted_dataset

log = logging.getLogger(__name__)

# Failure Reason values (PS3.18 table I.2-2)
PROCESSING_FAILURE = 0x0110
DOES_NOT_MATCH = 0xA900  # also used for a study that is not the one the URL names
CANNOT_UNDERSTAND = 0xC000
COMMIT_BATCH = 64


@dataclass
class _Failure:
    sop_class_uid: str | None
    sop_instance_uid: str | None
    reason: int
    message: str


@dataclass
class StowResult:
    """What a STOW-RS request did, part by part, turned into the response data set."""

    stored: list[tuple[str, str, str, str]] = field(default_factory=list)  # class, instance, study, series
    failed: list[_Failure] = field(default_factory=list)

    @property
    def status(self) -> int:
        """200 all stored, 202 some failed, 409 none stored (PS3.18 10.5.3)."""
        if not self.failed:
            return 200
        return 202 if self.stored else 409

    def response(self, base_url: str, study_uid: str | None) -> dict:
        answer: dict = {}
        studies = {study for _, _, study, _ in self.stored}
        if study_uid or len(studies) == 1:
            add(answer, "RetrieveURL", f"{base_url}/studies/{study_uid or next(iter(studies))}")
        if self.stored:
            items = []
            for sop_class, sop_instance, study, series in self.stored:
                item: dict = {}
                add(item, "ReferencedSOPClassUID", sop_class)
                add(item, "ReferencedSOPInstanceUID", sop_instance)
                add(item, "RetrieveURL", f"{base_url}/studies/{study}/series/{series}/instances/{sop_instance}")
                items.append(sorted_dataset(item))
            answer["00081199"] = {"vr": "SQ", "Value": items}
        if self.failed:
            items = []
            for failure in self.failed:
                item = {}
                add(item, "ReferencedSOPClassUID", failure.sop_class_uid)
                add(item, "ReferencedSOPInstanceUID", failure.sop_instance_uid)
                add(item, "FailureReason", failure.reason)
                add(item, "TextValue", failure.message[:1024])
                items.append(sorted_dataset(item))
            answer["00081198"] = {"vr": "SQ", "Value": items}
        return sorted_dataset(answer)


def _uids_of(data: bytes) -> tuple[str | None, str | None]:
    """The SOP Class and Instance UIDs of an unusable part, as far as they can be read."""
    pydicom = lenient_pydicom()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True,
                                      specific_tags=["SOPClassUID", "SOPInstanceUID"])
        return (str(dataset.get("SOPClassUID", "")) or None, str(dataset.get("SOPInstanceUID", "")) or None)
    except Exception:  # noqa: BLE001 - nothing readable: the failure is reported without UIDs
        return None, None


class StowSession:
    """One STOW-RS request: parts are stored as they arrive (on a worker thread), rows committed
    every COMMIT_BATCH parts and at the end."""

    def __init__(self, workstation, study_uid: str | None):
        self.library = workstation.library
        self.study_uid = study_uid
        self.result = StowResult()
        self._staged: list = []

    def add(self, headers: dict[str, str], data: bytes) -> None:
        """Store one part (its headers and bytes)."""
        media_type = headers.get("content-type", "application/dicom").split(";")[0].strip().lower()
        if media_type != "application/dicom":
            self.result.failed.append(_Failure(None, None, CANNOT_UNDERSTAND,
                                               f"a part of type {media_type} is not application/dicom"))
            return
        study_uid = self.study_uid

        def identify():
            instance = read_part10(data)
            if study_uid and instance.study_instance_uid != study_uid:
                raise _WrongStudy(instance)
            return instance

        try:
            instance, staged = self.library.files.stage_received((data,), identify)
        except _WrongStudy as wrong:
            instance = wrong.instance
            self.result.failed.append(_Failure(
                instance.image.get("sop_class_uid"), instance.sop_instance_uid, DOES_NOT_MATCH,
                f"the object belongs to study {instance.study_instance_uid}, not {study_uid}"))
            return
        except ImportFailure as exc:
            self.result.failed.append(_Failure(*_uids_of(data), CANNOT_UNDERSTAND, exc.message))
            return
        except OSError as exc:
            log.error("STOW-RS could not write an object: %s", exc)
            self.result.failed.append(_Failure(*_uids_of(data), PROCESSING_FAILURE, f"could not be written: {exc}"))
            return
        if staged is None:  # stored already: the stored file stays, the client is told it is there
            self._stored(instance)
            return
        self._staged.append(staged)
        if len(self._staged) >= COMMIT_BATCH:
            self.commit()

    def _stored(self, instance) -> None:
        self.result.stored.append((instance.image.get("sop_class_uid") or "", instance.sop_instance_uid,
                                   instance.study_instance_uid, instance.series_instance_uid))

    def commit(self) -> None:
        """Commit the rows of what is staged (a failure fails those parts, which then do not count:
        a file without a row is not stored)."""
        staged, self._staged = self._staged, []
        if not staged:
            return
        try:
            self.library.commit(staged)
        except Exception as exc:  # noqa: BLE001 - reported per part; the server keeps running
            log.exception("STOW-RS commit failed")
            for item in staged:
                self.result.failed.append(_Failure(item.instance.image.get("sop_class_uid"),
                                                   item.instance.sop_instance_uid, PROCESSING_FAILURE,
                                                   f"the database refused it: {type(exc).__name__}"))
            return
        for item in staged:
            self._stored(item.instance)


class _WrongStudy(Exception):
    def __init__(self, instance):
        super().__init__(instance.study_instance_uid)
        self.instance = instance

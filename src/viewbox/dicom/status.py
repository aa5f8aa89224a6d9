"""The one mapping from workstation exceptions to DICOM status codes (answered, never a dropped
association)."""

from __future__ import annotations

import logging

from pydicom.dataset import Dataset

from ..errors import ImportFailure, ViewboxError, incident_message, report_incident

log = logging.getLogger(__name__)

SUCCESS = 0x0000
PENDING = 0xFF00
CANCEL = 0xFE00
OUT_OF_RESOURCES = 0xA700
IDENTIFIER_DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110
UNKNOWN_MOVE_DESTINATION = 0xA801


def status_for(exc: BaseException) -> Dataset:
    """A status dataset (Status + ErrorComment) for an exception raised while serving a request."""
    status = Dataset()
    if isinstance(exc, ImportFailure):
        status.Status, comment = CANNOT_UNDERSTAND, exc.message
    elif isinstance(exc, OSError):
        log.warning("out of resources while storing: %s", exc)
        status.Status, comment = OUT_OF_RESOURCES, f"cannot write: {exc.strerror or exc}"
    elif isinstance(exc, ViewboxError):
        status.Status, comment = PROCESSING_FAILURE, exc.message
    else:
        incident = report_incident(log, "DICOM request failed", exc)
        status.Status, comment = PROCESSING_FAILURE, incident_message(incident)
    status.ErrorComment = comment[:64]
    return status

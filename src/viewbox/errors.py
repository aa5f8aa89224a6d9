"""One exception hierarchy for the whole workstation.

Each error knows its wire form once: the HTTP status (also the XML-RPC `error` string for
protocol errors, docs/control-api.md). Each boundary (XML-RPC/HTTP, DICOM status, CLI) maps these in one place.
"""

from __future__ import annotations

import logging
import uuid


class ViewboxError(Exception):
    """Base of every error the workstation reports on purpose."""

    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ConfigError(ViewboxError):
    """Invalid settings; `problems` lists every one so the user fixes them in one go."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid configuration:\n" + "\n".join(f"- {p}" for p in problems))
        self.problems = problems


class BadRequest(ViewboxError):
    """A missing or invalid parameter, malformed XML, a hostile document."""

    http_status = 400


class PredicateError(BadRequest):
    """An NSPredicate string that cannot be parsed or compiled; `position` is 1-based column."""

    def __init__(self, message: str, position: int | None = None):
        if position is not None and "column" not in message:
            message = f"{message} at column {position}"
        super().__init__(message)
        self.position = position


class Unauthorized(ViewboxError):
    http_status = 401


class Forbidden(ViewboxError):
    http_status = 403


class NotFound(ViewboxError):
    """Unknown method or resource."""

    http_status = 404


class TooLarge(ViewboxError):
    http_status = 413


class ImportFailure(ViewboxError):
    """A file could not be stored (not DICOM, unreadable, no SOP Instance UID)."""

    http_status = 400

    def __init__(self, message: str, quarantine: bool = True):
        super().__init__(message)
        self.quarantine = quarantine


class RemoteFailure(ViewboxError):
    """A DICOM peer or download source failed or could not be reached."""

    http_status = 502


class UnknownLocation(ViewboxError):
    """No configured Location has that name (Retrieve answers error -2)."""

    http_status = 404


class NoMatch(ViewboxError):
    """The remote query matched nothing (Retrieve answers error -3)."""

    http_status = 404


class SchemaTooNew(ViewboxError):
    """The database was upgraded by a newer Viewbox: this one must not touch it."""

    http_status = 409


class SchemaUnknown(ViewboxError):
    """The database holds tables that are neither empty, Viewbox 0.1.0's, nor under migration."""

    http_status = 409


# -- the shapes every boundary shares ---------------------------------------------------------------

def error_reply(status: int | str, message: str) -> dict[str, str]:
    """The `{error, message}` struct of a refused or failed request (control API, web UI, security
    layer): `error` is the status as a string, as OsiriX clients expect."""
    return {"error": str(status), "message": message}


def report_incident(log: logging.Logger, what: str, exc: BaseException | None = None) -> str:
    """Log an unexpected failure (`what`, e.g. "job 3 failed") with its traceback under a fresh
    incident id and return the id: the client sees `incident_message(id)`, never the traceback."""
    incident = uuid.uuid4().hex[:12]
    log.error("%s (incident %s)", what, incident, exc_info=exc if exc is not None else True)
    return incident


def incident_message(incident: str) -> str:
    """What a client is told of an unexpected failure."""
    return f"internal error, incident {incident}"

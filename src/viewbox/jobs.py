"""Background jobs (retrieve, download, import) with state and progress.

A job's function receives its Job and reports progress on it; GetJob, the UI's activity panel and
the CLI read the same object. `then` callbacks run when a job ends (e.g. open the retrieved study).
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import ViewboxError, incident_message, report_incident

log = logging.getLogger(__name__)

JobListener = Callable[["Job"], None]


@dataclass
class Job:
    """One unit of background work; fields are read by GetJob and the activity panel."""

    id: str
    kind: str
    description: str
    state: str = "queued"  # queued | running | done | failed
    done: int = 0
    total: int | None = None
    failed: int = 0
    message: str = ""
    result: dict = field(default_factory=dict)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    _notify: Callable[[Job], None] | None = field(default=None, repr=False)

    def progress(self, done: int | None = None, total: int | None = None, failed: int | None = None,
                 message: str | None = None) -> None:
        """Report progress from inside the job."""
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if failed is not None:
            self.failed = failed
        if message is not None:
            self.message = message
        if self._notify:
            self._notify(self)

    def as_dict(self) -> dict[str, str]:
        """The wire form (all strings, as every reply value)."""
        out = {"jobID": self.id, "kind": self.kind, "description": self.description,
               "state": self.state, "done": str(self.done), "failed": str(self.failed),
               "message": self.message}
        if self.total is not None:
            out["total"] = str(self.total)
        for key, value in self.result.items():
            out[key] = value if isinstance(value, str) else str(value)
        return out


class JobRunner:
    """Runs jobs on a small thread pool and keeps the recent ones for GetJob."""

    def __init__(self, workers: int = 4, keep: int = 500):
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="viewbox-job")
        self._jobs: dict[str, Job] = {}
        self._keep = keep
        self._lock = threading.Lock()
        self._listeners: list[JobListener] = []
        self._futures: dict[str, Future] = {}
        self._counter = itertools.count(1)

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    def _notify(self, job: Job) -> None:
        for listener in list(self._listeners):
            try:
                listener(job)
            except Exception:  # noqa: BLE001 - a broken listener must not kill the job
                log.exception("job listener failed")

    def submit(self, kind: str, description: str, work: Callable[[Job], Any],
               then: Callable[[Job], None] | None = None) -> Job:
        """Queue `work(job)`; its return value (a dict) becomes the job's result."""
        job = Job(id=f"{next(self._counter)}-{uuid.uuid4().hex[:8]}", kind=kind,
                  description=description, _notify=self._notify)
        with self._lock:
            self._jobs[job.id] = job  # (a dict keeps the order jobs came in)
            if len(self._jobs) > self._keep:  # forget the oldest finished one; running ones stay
                finished = next((i for i, j in self._jobs.items() if j.state in ("done", "failed")), None)
                if finished is not None:
                    del self._jobs[finished]
        self._futures[job.id] = self._pool.submit(self._run, job, work, then)
        self._notify(job)
        return job

    def _run(self, job: Job, work: Callable[[Job], Any], then: Callable[[Job], None] | None) -> None:
        job.state = "running"
        self._notify(job)
        try:
            result = work(job)
            if isinstance(result, dict):
                job.result.update(result)
            job.state = "done"
        except ViewboxError as exc:
            job.state, job.message = "failed", exc.message
        except Exception as exc:  # noqa: BLE001 - reported on the job, never lost
            incident = report_incident(log, f"job {job.id} failed", exc)
            job.state, job.message = "failed", f"{incident_message(incident)}: {type(exc).__name__}"
        job.finished = datetime.now(UTC)
        if then is not None:
            try:
                then(job)
            except Exception:  # noqa: BLE001
                log.exception("job %s follow-up failed", job.id)
        self._notify(job)
        self._futures.pop(job.id, None)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self, limit: int = 50) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())[::-1][:limit]

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Block until a job ends (CLI and tests)."""
        future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        return self.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

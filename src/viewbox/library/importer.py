"""Importing files, folders, zips and DICOMDIR sets through the Library's one write path.

Streams: files are found lazily, staged one by one and committed in small batches, so memory stays
flat however large the folder. Zips are unpacked safely into TEMP first (no path escape, no links,
limits on entries and unpacked size).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadRequest, ImportFailure
from ..jobs import Job
from ..pydicom_setup import lenient_pydicom
from .files import Copy
from .instance import NotDicom, read_instance_from
from .store import Library, utcnow

BATCH_SIZE = 64
# One worker per core: the copies and their writeback keep the kernel busy on every core, and more
# threads only contend (measured on 2 cores: 2 workers ~1,100 files/s, 3 ~800, 6 ~650).
WORKERS = max(2, min(os.cpu_count() or 2, 4))
MAX_ZIP_NESTING = 3
Progress = Callable[["ImportReport"], None]


@dataclass
class ImportReport:
    """Counts of what an import did, by file (the CLI's --json and GetJob show these)."""

    imported: int = 0
    already_present: int = 0
    not_dicom: int = 0
    quarantined: int = 0
    not_stored: int = 0  # could not be stored for a reason not the file's own: I/O, full disk, database
    errors: list[dict] = field(default_factory=list)
    seen: int = 0
    study_uids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"imported": self.imported, "already_present": self.already_present,
                "not_dicom": self.not_dicom, "quarantined": self.quarantined,
                "not_stored": self.not_stored, "errors": self.errors, "studies": self.study_uids}

    @property
    def failed(self) -> int:
        return self.quarantined + len(self.errors)

    def summary(self, problems: int = 5) -> str:
        """One line for a person: the counts, then the first few problems by file name."""
        named = "; ".join(f"{Path(e['path']).name}: {e['reason']}" for e in self.errors[:problems])
        return (f"{self.imported} imported, {self.already_present} already present"
                + (f", {self.not_dicom} not DICOM" if self.not_dicom else "")
                + (f"; {named}" if named else ""))


def staged_import_job(folder: Path, import_paths: Callable[..., ImportReport]) -> tuple[int, Callable[[Job], dict]]:
    """(file count, job work) importing a folder of files staged in TEMP (the web UI's dropped
    files) with `import_paths` (Workstation.import_paths): progress as files are seen, the folder
    removed afterwards whatever happens, the counts as the job's result."""
    count = sum(1 for path in folder.iterdir() if path.is_file())

    def work(job: Job) -> dict:
        job.progress(done=0, total=count, message=f"importing {count} file(s)")
        try:
            report = import_paths([folder], progress=lambda r: job.progress(done=r.seen, failed=r.failed))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        job.progress(failed=report.failed, message=report.summary())
        return {"imported": report.imported, "already_present": report.already_present,
                "not_dicom": report.not_dicom, "quarantined": report.quarantined,
                "studies": ",".join(report.study_uids[:20])}

    return count, work


@dataclass(frozen=True)
class ZipLimits:
    """Limits that keep a hostile zip from filling the disk or escaping the folder."""

    max_entries: int = 100_000
    max_unpacked_bytes: int = 8 * 1024**3
    max_ratio: int = 1000


class Importer:
    """Walks paths and feeds every file to the Library; one per import (it holds the report).

    A pipeline: worker threads read each file's header (scan.py's fast walk) and copy its bytes
    inside the kernel into an unnamed file in its final folder, while this thread names the
    copies and commits their rows in batches, in order. The copy and the disk do not hold the GIL,
    so threads keep both cores busy without worker processes and their start-up.
    """

    def __init__(self, library: Library, *, move: bool = False, link: bool = False,
                 zip_limits: ZipLimits = ZipLimits(), progress: Progress | None = None):
        self.library = library
        self.move = move
        self.link = link  # hard-link the user's files instead of copying them (viewbox import --link)
        self.zip_limits = zip_limits
        self.progress = progress
        self.report = ImportReport()
        self._batch: list[tuple[str, Copy]] = []
        self._in_flight: deque[tuple[str, Future]] = deque()
        self._workers: ThreadPoolExecutor | None = None
        self._zip_depth = 0
        self._temp_prefix = str(library.database.temp_dir) + os.sep

    def run(self, paths: list[Path]) -> ImportReport:
        """Import every path (files, folders, zips, DICOMDIRs); never stops on a bad file."""
        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="viewbox-import") as workers:
            self._workers = workers
            try:
                for path in paths:
                    path = Path(path)
                    if not path.exists():
                        self.report.errors.append({"path": str(path), "reason": "no such file or folder"})
                        continue
                    for file_path in self._files(path):
                        self._submit(file_path)
                self._drain()
                self._flush()
            finally:
                self._abandon()
        self._workers = None
        return self.report

    def _abandon(self) -> None:
        """After a failure: drop the copies still waiting (their files have no name yet)."""
        while self._in_flight:
            _, future = self._in_flight.popleft()
            kind, payload = future.result()
            if kind == "ok":
                payload.discard()
        for _, copy in self._batch:
            copy.discard()
        self._batch = []

    def _prepare(self, source: str) -> tuple[str, object]:
        """Read one file's header and copy it under its final name (our own files in TEMP are
        linked instead); runs in a worker thread.

        Returns ("ok", Copy), ("not_dicom", None), ("failure", reason) for a DICOM file to
        quarantine, or ("error", reason) for an I/O problem.
        """
        try:
            with open(source, "rb") as fp:
                size = os.fstat(fp.fileno()).st_size
                instance = read_instance_from(fp, source, size)
                ours = source.startswith(self._temp_prefix)
                linked = (self.library.files.link_in(instance, Path(source), size, ours=ours)
                          if ours or self.link else None)
                return "ok", linked or self.library.files.copy_in(instance, Path(source), fp.fileno(), size)
        except NotDicom:
            return "not_dicom", None
        except ImportFailure as exc:
            return "failure", exc.message
        except OSError as exc:
            return "error", f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - whatever one file does, the import goes on
            return "failure", f"unreadable DICOM: {type(exc).__name__}: {exc}"

    # -- finding files -----------------------------------------------------------------------------

    def _files(self, path: Path) -> Iterator[str]:
        if path.is_dir():
            yield from self._walk(str(path))
        elif path.name.upper() == "DICOMDIR":
            yield from self._dicomdir(path)
        elif not path.is_symlink() and path.is_file():
            yield str(path)  # zips are recognised by content once the header parse says "not DICOM"

    def _walk(self, folder: str) -> Iterator[str]:
        """A folder's files, then its subfolders', by name; no links, no hidden files, no
        DICOMDIR (it indexes files the walk finds anyway). scandir's entries need no stat."""
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as exc:
            self.report.errors.append({"path": folder, "reason": f"{type(exc).__name__}: {exc}"})
            return
        folders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            elif entry.is_file(follow_symlinks=False) and entry.name.upper() != "DICOMDIR":
                yield entry.path
        for subfolder in folders:
            yield from self._walk(subfolder)

    def _dicomdir(self, path: Path) -> Iterator[str]:
        try:
            dicomdir = lenient_pydicom().dcmread(path, force=True)
            records = dicomdir.DirectoryRecordSequence
        except Exception as exc:  # noqa: BLE001 - any parse failure is the file's fault
            self.report.errors.append({"path": str(path), "reason": f"unreadable DICOMDIR: {exc}"})
            return
        root = path.parent.resolve()
        for record in records:
            ref = record.get("ReferencedFileID")
            if not ref:
                continue
            parts = [ref] if isinstance(ref, str) else list(ref)
            target = root.joinpath(*parts).resolve()
            if root in target.parents and target.is_file():
                yield str(target)
            else:
                self.report.errors.append({"path": str(target), "reason": "DICOMDIR entry missing"})

    # -- one file --------------------------------------------------------------------------------

    def _submit(self, path: str) -> None:
        assert self._workers is not None, "files are submitted only while run() holds its workers"
        self._in_flight.append((path, self._workers.submit(self._prepare, path)))
        if len(self._in_flight) > 2 * BATCH_SIZE:
            self._handle(*self._in_flight.popleft())

    def _drain(self) -> None:
        while self._in_flight:
            self._handle(*self._in_flight.popleft())

    def _handle(self, path: str, future: Future) -> None:
        self.report.seen += 1
        kind, payload = future.result()
        if kind == "ok":
            self._batch.append((path, payload))
        elif kind == "not_dicom":
            if zipfile.is_zipfile(path):
                self.report.seen -= 1  # the zip's entries are counted, not the zip
                self._import_zip(path)
            else:
                self.report.not_dicom += 1
        elif kind == "failure":
            self._quarantine(path, payload)
        else:
            self.report.not_stored += 1
            self.report.errors.append({"path": path, "reason": payload})
        if len(self._batch) >= BATCH_SIZE:
            self._flush()
        if self.progress:
            self.progress(self.report)

    def _import_zip(self, path: str) -> None:
        """Unpack into TEMP with the safety checks, import the entries, then remove the folder;
        an imported zip that is ours to move (INCOMING, nested) goes like any imported file."""
        if self._zip_depth >= MAX_ZIP_NESTING:
            self.report.errors.append({"path": str(path), "reason": "zip refused: nested too deep"})
            return
        workdir = Path(tempfile.mkdtemp(dir=self.library.database.temp_dir, prefix="zip-"))
        try:
            try:
                safe_unzip(Path(path), workdir, self.zip_limits)
            except BadRequest as exc:
                self.report.errors.append({"path": path, "reason": exc.message})
                return
            self._zip_depth += 1
            try:
                for entry in self._files(workdir):
                    self._submit(entry)
                self._drain()  # every entry handled and placed before the folder goes
                self._flush()
            finally:
                self._zip_depth -= 1
            self._consumed(path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _flush(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        settled: set[str] = set()
        try:
            self._store(batch, settled)
        except Exception as exc:  # noqa: BLE001 - a full disk or an unwritable database: reported
            # per file, and the import goes on (a file named without its row does not count).
            reason = f"could not be stored: {type(exc).__name__}: {exc}".splitlines()[0]
            for source, _ in batch:
                if source not in settled:
                    self.report.not_stored += 1
                    self.report.errors.append({"path": source, "reason": reason})

    def _store(self, batch: list[tuple[str, Copy]], settled: set[str]) -> None:
        """Place a batch's copies (one sync) and commit their rows; `settled` gets the sources
        counted, so that a failure counts the others once."""
        placed = self.library.files.place([copy for _, copy in batch])
        staged, staged_sources = [], []
        for item, (source, _) in zip(placed, batch, strict=False):
            if item is None:
                self.report.already_present += 1
                settled.add(source)
                self._consumed(source)
            else:
                staged.append(item)
                staged_sources.append(source)
        for outcome, source in zip(self.library.commit(staged), staged_sources, strict=False):
            if outcome.status == "imported":
                self.report.imported += 1
                uid = outcome.instance.study_instance_uid
                if uid not in self.report.study_uids:
                    self.report.study_uids.append(uid)
            elif outcome.status == "refused":
                settled.add(source)
                self._quarantine(source, outcome.reason or "refused")
                continue
            else:
                self.report.already_present += 1
            settled.add(source)
            self._consumed(source)

    def _owned(self, path: str) -> bool:
        """Files we may move or delete: the caller said so, or they are our own unpacked copies."""
        return self.move or path.startswith(self._temp_prefix)

    def _consumed(self, path: str) -> None:
        if self._owned(path):
            Path(path).unlink(missing_ok=True)

    def _quarantine(self, path: str, reason: str) -> None:
        """Keep the file aside with a note; moved when it is ours, copied when it is the user's."""
        self.report.quarantined += 1
        self.report.errors.append({"path": path, "reason": reason})
        folder = self.library.database.quarantine_dir
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{stamp}-{Path(path).name}"
        try:
            if self._owned(path):
                shutil.move(path, target)
            else:
                shutil.copyfile(path, target)
            target.with_name(target.name + ".reason.json").write_text(
                json.dumps({"source": path, "reason": reason, "time": stamp}), "utf-8")
        except OSError as exc:
            self.report.errors.append({"path": path, "reason": f"could not quarantine: {exc}"})


def safe_unzip(archive: Path, destination: Path, limits: ZipLimits) -> int:
    """Unpack regular files only, refusing path escapes, links, and entry/size/ratio bombs."""
    destination = destination.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise BadRequest(f"zip refused: {len(infos)} entries (limit {limits.max_entries})")
            declared = sum(info.file_size for info in infos)
            if declared > limits.max_unpacked_bytes:
                raise BadRequest(f"zip refused: unpacks to {declared} bytes (limit {limits.max_unpacked_bytes})")
            for info in infos:
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise BadRequest(f"zip refused: entry {info.filename!r} is a symbolic link")
                name = info.filename.replace("\\", "/")
                target = (destination / name).resolve()
                if name.startswith("/") or (destination not in target.parents and target != destination):
                    raise BadRequest(f"zip refused: entry {info.filename!r} escapes the folder")
                if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
                    raise BadRequest(f"zip refused: entry {info.filename!r} compression ratio too high")
            written = 0
            for info in infos:
                if info.is_dir():
                    continue
                target = (destination / info.filename.replace("\\", "/")).resolve()
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1024 * 1024):
                        written += len(chunk)
                        if written > limits.max_unpacked_bytes:  # sizes in the directory can lie
                            raise BadRequest("zip refused: unpacked size over the limit")
                        dst.write(chunk)
            return written
    except zipfile.BadZipFile as exc:
        raise BadRequest(f"not a valid zip: {exc}") from exc
    except RuntimeError as exc:  # encrypted entries
        raise BadRequest(f"zip refused: {exc}") from exc

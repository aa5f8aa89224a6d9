"""The INCOMING folder: files and zips dropped there while the workstation runs are imported.

Polls rather than relying on inotify, so it works on network shares too. A file is taken only
once its size and modification time have stayed the same for one poll (still being copied
otherwise). Imported files are removed; unusable and non-DICOM ones are moved to QUARANTINE.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

from .station import Station

log = logging.getLogger(__name__)


class IncomingWatcher:
    """A background thread importing what appears in the active database's INCOMING folder."""

    def __init__(self, workstation: Station, interval: float = 1.0):
        self.workstation = workstation
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="viewbox-incoming", daemon=True)
        self._last_seen: dict[Path, tuple[int, float]] = {}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan_once()
            except Exception:  # noqa: BLE001 - keep watching whatever one file did
                log.exception("incoming scan failed")
            self._stop.wait(self.interval)

    def scan_once(self) -> int:
        """Import every stable file in INCOMING; returns how many files were handed over."""
        folder = self.workstation.database.incoming_dir
        current: dict[Path, tuple[int, float]] = {}
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # claimed by a node (below)
            for name in files:
                if name.startswith("."):
                    continue  # hidden: still being written (as OsiriX's .WADO files)
                path = Path(root) / name
                try:
                    info = path.stat()
                except OSError:
                    continue
                current[path] = (info.st_size, info.st_mtime)
        stable = [p for p, sig in current.items() if self._last_seen.get(p) == sig]
        self._last_seen = {p: sig for p, sig in current.items() if p not in stable}
        claimed = _claim(folder, stable)
        if claimed:
            report = self.workstation.import_paths(claimed, move=True)
            log.info("INCOMING: %d imported, %d already present, %d not DICOM, %d quarantined",
                     report.imported, report.already_present, report.not_dicom, report.quarantined)
            for path in claimed:  # what the importer left (not DICOM) is kept aside, not deleted
                if path.exists():
                    quarantine = self.workstation.database.quarantine_dir
                    try:
                        os.replace(path, quarantine / f"not-dicom-{path.name}")
                    except OSError:
                        log.exception("could not move %s out of INCOMING", path)
            _remove_empty_subfolders(folder)
        return len(claimed)


def _claim(folder: Path, paths: list[Path]) -> list[Path]:
    """Move `paths` into a hidden folder of this scan's own, keeping their names: on an INCOMING
    folder shared by several nodes (a reading room) each file is imported by the one node whose
    rename won. A node that crashes meanwhile leaves its files in `INCOMING/.claimed-*/`."""
    if not paths:
        return []
    claims = folder / f".claimed-{uuid.uuid4().hex[:12]}"
    claims.mkdir()
    claimed = []
    for index, path in enumerate(paths):
        target = claims / str(index) / path.name  # two files of one name in two subfolders
        target.parent.mkdir()
        try:
            os.rename(path, target)
        except FileNotFoundError:
            continue  # another node took it first
        claimed.append(target)
    return claimed


def _remove_empty_subfolders(folder: Path) -> None:
    for root, dirs, _files in os.walk(folder, topdown=False):
        for name in dirs:
            try:
                (Path(root) / name).rmdir()
            except OSError:
                pass

"""Objects' files: written under their final UID-derived names in DATABASE/, durable before any
row names them (the order `Library.commit` relies on).

A file is written without a name (O_TMPFILE, in its final folder or, for network objects, in
TEMP; a named file in TEMP where the system has none), fsynced, linked under its final name and
that folder fsynced. A name already taken is an object stored already (the copy is dropped; the
stored file is never replaced) or a leftover of a crash (a name without a row: replaced).
"""

from __future__ import annotations

import errno
import os
import tempfile
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .durability import (
    NoProc,
    copy_file,
    exists_in,
    link_unnamed,
    open_folder,
    open_unnamed,
    start_writeback,
    sync_filesystem,
    unnamed_files_possible,
)
from .instance import Instance

StoredCheck = Callable[[Iterable[str]], set[str]]


@dataclass
class Copy:
    """An object's bytes copied under their final name, or beside it when that name is taken,
    not yet durable: `FileStore.place` decides on the taken names and syncs a whole batch at once.

    A name taken means the object is stored already (the copy is dropped) or the name is a
    leftover of a crash (the copy replaces it); the copy waits as an unnamed file (O_TMPFILE)
    held open, as a hidden named file where the system has none, or as the user's file itself
    (`source`: not copied yet, since the name was taken before the copy began; linked over the
    leftover for `import --link`, else copied then).
    """

    instance: Instance
    final_path: Path
    size: int
    fd: int | None = None
    tmp: Path | None = None
    source: Path | None = None
    link_source: bool = False

    def discard(self) -> None:
        """Close or remove what is left of the copy (nothing once it is named)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None
        self.source = None  # the user's: never removed


@dataclass
class Staged:
    """A file already durable under its final name, waiting for its row."""

    instance: Instance
    final_path: Path
    size: int


class FileStore:
    """Stages objects' files in one data folder; `stored(uids)` says which objects have rows."""

    def __init__(self, files_dir: Path, temp_dir: Path, stored: StoredCheck):
        self.files_dir = files_dir
        self.temp_dir = temp_dir
        self.stored = stored
        self._unnamed_files = unnamed_files_possible()
        self._early_writes = True

    def stage_bytes(self, instance: Instance, *parts: bytes | memoryview) -> Staged | None:
        """Store bytes received from the network (C-STORE, C-GET, WADO-RS) as they came: the file
        is `parts` one after the other (a C-STORE's file meta and its data set, never joined)."""
        def write(handle) -> None:
            for part in parts:
                handle.write(part)

        return self.stage(instance, write)

    def stage(self, instance: Instance, write: Callable[[BinaryIO], object]) -> Staged | None:
        """Write an object's bytes with `write(tmp)`, fsync, and give it its final name.

        `write(handle)` writes into an open file that has no name yet (O_TMPFILE, in the final
        folder; a named file in TEMP where the system has none); one descriptor serves the write,
        the fsync and the size, and one descriptor of the folder its link and fsync.

        The final name is taken with link(), which never replaces: if the name exists and its
        object is in the database, this is a duplicate (None) and the stored file is untouched;
        if no row owns it, it is a leftover of a crash and is replaced.
        """
        final = self.files_dir / instance.relative_path()
        folder = open_folder(final.parent)
        try:
            if self._stored_already(instance, final, folder):
                return None  # do not even write the copy
            fd = open_unnamed(folder) if self._unnamed_files else None
            if fd is None:
                return self._stage_named(instance, write, final, folder)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(fd)
                size = handle.tell()
                try:
                    if not self._link_unnamed(fd, instance, final.name, folder):
                        return None
                except NoProc:
                    return self._stage_named(instance, write, final, folder)
            os.fsync(folder)
        finally:
            os.close(folder)
        return Staged(instance, final, size)

    def stage_received(self, parts: Sequence[bytes | memoryview],
                       identify: Callable[[], Instance]) -> tuple[Instance, Staged | None]:
        """`stage_bytes` for an object whose header is read by `identify()`, written first.

        The bytes go into an unnamed file in TEMP and the kernel starts writing them out
        (sync_file_range) while `identify` parses the header, so the fsync then waits less.
        Nothing is left behind when `identify` raises (ImportFailure) or the object is stored
        already. Same order as `stage`: file fsynced, linked, folder fsynced.
        """
        fd = None
        if self._unnamed_files and self._early_writes:
            fd = open_unnamed(self.temp_dir)
            self._early_writes = fd is not None
        if fd is None:
            instance = identify()
            return instance, self.stage_bytes(instance, *parts)
        try:
            size = 0
            for part in parts:
                view = memoryview(part)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                    size += written
            start_writeback(fd)
            instance = identify()
            final = self.files_dir / instance.relative_path()
            folder = open_folder(final.parent)
            try:
                if self._stored_already(instance, final, folder):
                    return instance, None
                os.fsync(fd)
                try:
                    if not self._link_unnamed(fd, instance, final.name, folder):
                        return instance, None
                except (NoProc, OSError) as exc:
                    if not isinstance(exc, NoProc) and exc.errno != errno.EXDEV:
                        raise
                    self._early_writes = False  # TEMP on another file system (or no /proc)
                    return instance, self.stage_bytes(instance, *parts)
                os.fsync(folder)
            finally:
                os.close(folder)
        finally:
            os.close(fd)
        return instance, Staged(instance, final, size)

    def _stored_already(self, instance: Instance, final: Path, folder: int) -> bool:
        """Its final name is taken and a row owns the object (a name alone may be a leftover)."""
        return exists_in(folder, final.name) and bool(self.stored([instance.sop_instance_uid]))

    def _link_unnamed(self, fd: int, instance: Instance, name: str, folder: int) -> bool:
        """Give an unnamed file its final name; False if a stored object already has it.

        A name without a row is a leftover of a crash: it is replaced. Raises NoProc where
        /proc is missing (the caller then names files the portable way from now on).
        """
        try:
            link_unnamed(fd, name, folder)
        except FileExistsError:
            if self.stored([instance.sop_instance_uid]):
                return False
            spare = f".{name}.{uuid.uuid4().hex}.part"
            link_unnamed(fd, spare, folder)
            os.replace(spare, name, src_dir_fd=folder, dst_dir_fd=folder)
        except NoProc:
            self._unnamed_files = False
            raise
        return True

    def _stage_named(self, instance: Instance, write: Callable[[BinaryIO], object], final: Path,
                     folder: int) -> Staged | None:
        """`stage` through a named file in TEMP (file systems without O_TMPFILE)."""
        fd, tmp_name = tempfile.mkstemp(dir=self.temp_dir, suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            try:
                os.link(tmp, final)
            except FileExistsError:
                if self.stored([instance.sop_instance_uid]):
                    return None
                os.replace(tmp, final)
            os.fsync(folder)
        finally:
            tmp.unlink(missing_ok=True)
        return Staged(instance, final, size)

    def copy_in(self, instance: Instance, source: Path, source_fd: int, size: int) -> Copy:
        """Copy an open file's bytes (kernel to kernel) under the object's final name, never
        replacing a file there; runs in the importer's worker threads.

        A file under its final name without a row does not count (see the module docstring), so
        naming it before `place` and `commit` is safe, and keeps that work off the thread that
        commits. A name already taken (mostly: the object is stored; a re-imported folder) is
        left to `place` before anything is copied.
        """
        final = self.files_dir / instance.relative_path()
        folder = open_folder(final.parent)
        try:
            if exists_in(folder, final.name):
                return Copy(instance, final, size, source=source)
            fd = open_unnamed(folder) if self._unnamed_files else None
            if fd is None:
                fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=".", suffix=".part")
                copy = Copy(instance, final, size, fd=fd, tmp=Path(tmp_name))
            else:
                copy = Copy(instance, final, size, fd=fd)
            try:
                copy_file(source_fd, copy.fd, size)
                start_writeback(copy.fd)  # the disk works while we go on; place's sync waits less
                try:
                    if copy.tmp is None:
                        link_unnamed(copy.fd, final.name, folder)
                    else:
                        os.link(copy.tmp.name, final.name, src_dir_fd=folder, dst_dir_fd=folder)
                except FileExistsError:
                    if copy.tmp is not None:
                        os.close(copy.fd)
                        copy.fd = None
                    return copy  # place decides: stored already, or a leftover to replace
                copy.discard()
            except BaseException:
                copy.discard()
                raise
        finally:
            os.close(folder)
        return copy

    def link_in(self, instance: Instance, source: Path, size: int, *, ours: bool) -> Copy | None:
        """Store a file by a hard link under its final name instead of a copy, never replacing;
        a taken name is settled by `place` as for copies.

        For our own files in TEMP (unpacked from a zip, uploaded, downloaded) this just saves the
        copy. For a user's file (`viewbox import --link`) the stored object is the user's file:
        no time, no space, but an edit of it in place changes the stored object too. None when
        no link can be made (another file system, not allowed): the caller copies.
        """
        final = self.files_dir / instance.relative_path()
        final.parent.mkdir(parents=True, exist_ok=True)
        if ours:
            os.chmod(source, 0o600)  # as private as a copy
        try:
            os.link(source, final)
        except FileExistsError:  # place settles it; our own file may be moved, a user's only linked
            return (Copy(instance, final, size, tmp=source) if ours
                    else Copy(instance, final, size, source=source, link_source=True))
        except OSError as exc:
            if exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
                return None
            raise
        return Copy(instance, final, size)

    def place(self, copies: list[Copy]) -> list[Staged | None]:
        """Settle a batch of copies and make them durable with one sync.

        None marks an object already stored (or twice in the batch); its copy is dropped. A name
        that exists without a row is a leftover of a crash and is replaced.
        """
        known = self.stored(copy.instance.sop_instance_uid for copy in copies)
        placed: list[Staged | None] = []
        try:
            for copy in copies:
                uid = copy.instance.sop_instance_uid
                if uid in known:
                    placed.append(None)
                    continue
                known.add(uid)
                if copy.fd is not None:
                    folder = open_folder(copy.final_path.parent)
                    try:
                        spare = f".{uuid.uuid4().hex}.part"
                        link_unnamed(copy.fd, spare, folder)
                        os.replace(spare, copy.final_path.name, src_dir_fd=folder, dst_dir_fd=folder)
                    finally:
                        os.close(folder)
                elif copy.tmp is not None:
                    os.replace(copy.tmp, copy.final_path)
                    copy.tmp = None
                elif copy.source is not None:
                    spare = copy.final_path.with_name(f".{uuid.uuid4().hex}.part")
                    try:
                        if copy.link_source:
                            os.link(copy.source, spare)
                        else:
                            with open(copy.source, "rb") as source, open(spare, "wb") as target:
                                copy_file(source.fileno(), target.fileno(), copy.size)
                        os.replace(spare, copy.final_path)
                    finally:
                        spare.unlink(missing_ok=True)
                placed.append(Staged(copy.instance, copy.final_path, copy.size))
            sync_filesystem(self.files_dir)
        finally:
            for copy in copies:
                copy.discard()
        return placed

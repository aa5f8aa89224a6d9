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
    """A file already durable, waiting for its row: under its final name, or — when that name was
    taken by a file without a row (a crash's leftover, or another node's object in flight) — under
    a hidden `spare` name beside it, which `Library.commit` moves over the final name only if this
    object's row is the one created."""

    instance: Instance
    final_path: Path
    size: int
    spare: Path | None = None

    def discard(self) -> None:
        """Remove this object's file (its row was not created): the spare, or the final name."""
        (self.spare or self.final_path).unlink(missing_ok=True)


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
        folder; a named hidden file there where the system has none); one descriptor serves the
        write, the fsync and the size, and one descriptor of the folder its link and fsync.

        The final name is taken with link(), which never replaces: if the name exists and its
        object is in the database, this is a duplicate (None) and the stored file is untouched;
        if no row owns it, the file waits under a spare name for the commit to decide.
        """
        for attempt in range(3):
            try:
                return self._stage_once(instance, write)
            except FileNotFoundError:
                # The final folder was removed under us (a study deleted at that moment, maybe by
                # another node): write again into a new one.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _stage_once(self, instance: Instance, write: Callable[[BinaryIO], object]) -> Staged | None:
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
                    staged = self._name_unnamed(fd, instance, final, size, folder)
                except NoProc:
                    return self._stage_named(instance, write, final, folder)
            if staged is not None:
                os.fsync(folder)
            return staged
        finally:
            os.close(folder)

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
                    staged = self._name_unnamed(fd, instance, final, size, folder)
                except (NoProc, OSError) as exc:
                    if isinstance(exc, OSError) and exc.errno not in (errno.EXDEV, errno.ENOENT):
                        raise
                    # TEMP on another file system, no /proc (from now on: the portable way), or
                    # the folder removed under us (written again into a new one)
                    self._early_writes = self._early_writes and isinstance(exc, FileNotFoundError)
                    return instance, self.stage_bytes(instance, *parts)
                if staged is not None:
                    os.fsync(folder)
            finally:
                os.close(folder)
        finally:
            os.close(fd)
        return instance, staged

    def _stored_already(self, instance: Instance, final: Path, folder: int) -> bool:
        """Its final name is taken and a row owns the object (a name alone may be a leftover)."""
        return exists_in(folder, final.name) and bool(self.stored([instance.sop_instance_uid]))

    def _name_unnamed(self, fd: int, instance: Instance, final: Path, size: int,
                      folder: int) -> Staged | None:
        """Give an unnamed file its final name, or a spare one beside a name taken by a file
        without a row; None if a stored object already has the name.

        Raises NoProc where /proc is missing (the caller then names files the portable way from
        now on).
        """
        try:
            link_unnamed(fd, final.name, folder)
        except FileExistsError:
            if self.stored([instance.sop_instance_uid]):
                return None
            spare = _spare_name(final)
            link_unnamed(fd, spare.name, folder)
            return Staged(instance, final, size, spare)
        except NoProc:
            self._unnamed_files = False
            raise
        return Staged(instance, final, size)

    def _stage_named(self, instance: Instance, write: Callable[[BinaryIO], object], final: Path,
                     folder: int) -> Staged | None:
        """`stage` through a hidden named file in the final folder (file systems without
        O_TMPFILE, network shares): linked to the final name, or kept as the spare where the name
        is taken by a file without a row or the file system has no hard links."""
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
        tmp = Path(tmp_name)
        keep = False
        try:
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                os.fsync(handle.fileno())
                size = handle.tell()
            try:
                os.link(tmp.name, final.name, src_dir_fd=folder, dst_dir_fd=folder)
            except FileExistsError:
                if self.stored([instance.sop_instance_uid]):
                    return None
                keep = True
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                keep = True
            os.fsync(folder)
        finally:
            if not keep:
                tmp.unlink(missing_ok=True)
        return Staged(instance, final, size, tmp if keep else None)

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
            assert copy.fd is not None  # just opened
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

        None marks an object already stored (or twice in the batch); its copy is dropped. Where
        the name is taken by a file without a row, the copy waits under a spare name for the
        commit to decide.
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
                spare = None
                if copy.fd is not None:
                    folder = open_folder(copy.final_path.parent)
                    try:
                        spare = _spare_name(copy.final_path)
                        link_unnamed(copy.fd, spare.name, folder)
                    finally:
                        os.close(folder)
                elif copy.tmp is not None:
                    spare = _spare_name(copy.final_path)
                    os.replace(copy.tmp, spare)
                    copy.tmp = None
                elif copy.source is not None:
                    spare = _spare_name(copy.final_path)
                    try:
                        if copy.link_source:
                            os.link(copy.source, spare)
                        else:
                            with open(copy.source, "rb") as source, open(spare, "wb") as target:
                                copy_file(source.fileno(), target.fileno(), copy.size)
                    except BaseException:
                        spare.unlink(missing_ok=True)
                        raise
                placed.append(Staged(copy.instance, copy.final_path, copy.size, spare))
            sync_filesystem(self.files_dir)
        finally:
            for copy in copies:
                copy.discard()
        return placed


# Errors of link() on file systems without hard links (some SMB/CIFS mounts, FAT).
_NO_HARD_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS)


def _spare_name(final: Path) -> Path:
    """A hidden name beside `final`, unique across nodes, for a file waiting for its commit."""
    return final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")

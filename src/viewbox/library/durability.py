"""How a file becomes durable on this machine's file system: the system calls and their fallbacks.

Unnamed files (O_TMPFILE) linked under a name once written (linkat through /proc), copies inside
the kernel (copy_file_range, else sendfile), early writeback (sync_file_range) and one syncfs per
batch. Nothing here knows about DICOM or the database; `files.py` decides what to call when.
"""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path


class NoProc(Exception):
    """/proc/self/fd is missing: unnamed files cannot be linked."""


def open_folder(folder: Path) -> int:
    """A descriptor of `folder`, created (with its parents) when missing."""
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def exists_in(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def unnamed_files_possible() -> bool:
    """Whether this system may have O_TMPFILE and /proc to link such files (each file system may
    still refuse: `open_unnamed` says so with None)."""
    return hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


def open_unnamed(folder: int | Path) -> int | None:
    """A new file without a name in `folder` (a descriptor or a path; O_TMPFILE): a failed write
    leaves nothing behind. None where the file system (or kernel) has no O_TMPFILE."""
    where, dir_fd = (".", folder) if isinstance(folder, int) else (folder, None)
    try:
        return os.open(where, os.O_TMPFILE | os.O_WRONLY, 0o600, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None  # this file system (or kernel) has no O_TMPFILE
        raise


def link_unnamed(fd: int, name: str, folder: int) -> None:
    """Give an O_TMPFILE file `name` in `folder` (linkat with AT_SYMLINK_FOLLOW on /proc); never
    replaces (FileExistsError). NoProc where /proc is missing."""
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=folder, follow_symlinks=True)
    except FileNotFoundError:
        if os.path.isdir("/proc/self/fd"):
            raise
        raise NoProc from None


def copy_file(source_fd: int, target_fd: int, size: int) -> None:
    """Copy `size` bytes from the start of one file to another inside the kernel."""
    offset = 0
    try:
        while offset < size:
            copied = os.copy_file_range(source_fd, target_fd, size - offset, offset, offset)
            if copied == 0:
                break
            offset += copied
    except OSError as exc:  # no copy_file_range between these files (old kernels, some file systems)
        if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while offset < size:
            os.lseek(target_fd, offset, os.SEEK_SET)
            copied = os.sendfile(target_fd, source_fd, offset, size - offset)
            if copied == 0:
                break
            offset += copied
    if offset != size:
        raise OSError(errno.EIO, f"the file shrank while it was copied ({offset} of {size} bytes)")


def sync_filesystem(folder: Path) -> None:
    """Flush every written file and directory entry of the file system holding `folder`.

    One syncfs per batch costs far less than an fsync per file and gives the same guarantee
    before the batch's rows commit.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _LIBC is not None and _LIBC.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages out now, without waiting."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE; best effort, fsync follows


def prune_empty_dirs(directory: Path, stop: Path) -> None:
    """Remove `directory` and its parents up to `stop` (excluded) while they are empty."""
    while directory != stop and stop in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent


def _load_libc():
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "syncfs") else None
    except OSError:
        return None


_LIBC = _load_libc()
_SYNC_FILE_RANGE = None
if _LIBC is not None and hasattr(_LIBC, "sync_file_range"):
    import ctypes

    _SYNC_FILE_RANGE = _LIBC.sync_file_range
    _SYNC_FILE_RANGE.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def fsync_folder(folder: Path) -> None:
    """Make the names just created or replaced in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inode_of(path: Path) -> int | None:
    """The inode under `path` now (None when there is no file)."""
    try:
        return os.stat(path, follow_symlinks=False).st_ino
    except FileNotFoundError:
        return None


def remove_if_same(path: Path, inode: int | None) -> None:
    """Remove `path` if it still is file `inode`; a file put there since (another writer's,
    maybe on another node) is left in place.

    The name is first moved aside atomically, so the check and the removal see the same file; a
    file that turns out to be another's is linked back (unless yet another took the name).
    """
    if inode is None:
        return
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}.deleted")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    try:
        if inode_of(aside) != inode:
            try:
                os.link(aside, path)
            except FileExistsError:
                pass
    finally:
        aside.unlink(missing_ok=True)

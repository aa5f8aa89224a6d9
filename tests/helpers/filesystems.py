"""A small file system of its own for full-disk tests: a tmpfs mounted on a test's folder.

Needs root with CAP_SYS_ADMIN (this machine and CI both run the suite as root). A refused mount
fails the test with the reason instead of skipping it: a full disk is a fault we promise to survive.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def small_filesystem(folder: Path, size_bytes: int) -> Iterator[Path]:
    """`folder` as a tmpfs of `size_bytes`, unmounted (and its content gone) afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        raise AssertionError(f"cannot mount a tmpfs for a full-disk test (run as root): {mounted.stderr}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave_bytes: int = 0) -> Path:
    """Fill the file system of `folder` up to `leave_bytes` free with one filler file."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    free = stats.f_bavail * stats.f_frsize - leave_bytes
    with open(filler, "wb") as handle:
        try:
            chunk = b"\0" * (1 << 16)
            while free > 0:
                free -= handle.write(chunk[:min(len(chunk), free)])
        except OSError:
            pass  # full already
    return filler

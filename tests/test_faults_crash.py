"""Fault suite: `viewbox serve` killed with SIGKILL at a seeded random point during C-STORE
(DCMTK storescu) and during an INCOMING import, then restarted: every acknowledged object is there,
byte for byte, and a resend stores nothing twice. Marked `fault`."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from helpers.dicom_peers import DCMTK_ENV, STORESCU
from helpers.instances import write_images
from helpers.polling import eventually
from helpers.serve_process import ServeProcess
from viewbox.app import Workstation
from viewbox.config import Settings

pytestmark = pytest.mark.fault
SEED = 1010  # the kill points are random, but the same on every run (change it to explore)


def stored_objects(data_root: Path, database_url: str | None = None) -> dict[str, list[bytes]]:
    """SOP Instance UID → the bytes of every stored file that has a row (more than one: a duplicate)."""
    workstation = Workstation(Settings(data_root=data_root, database_url=database_url, dicom_enabled=False))
    try:
        with workstation.database.read() as conn:
            rows = conn.execute(text("SELECT sop_instance_uid, rel_path FROM image")).all()
        found: dict[str, list[bytes]] = {}
        for uid, rel_path in rows:
            found.setdefault(uid, []).append((workstation.database.files_dir / rel_path).read_bytes())
        return found
    finally:
        workstation.close()


def dataset_bytes(part10: bytes) -> bytes:
    """A Part 10 file without its preamble and File Meta Information (what C-STORE carries)."""
    group_length = int.from_bytes(part10[140:144], "little")
    return part10[144 + group_length:]


def sop_uid(path: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def storescu(port: int, files: list[Path]) -> subprocess.Popen:
    return subprocess.Popen([STORESCU, "-v", "-aec", "VIEWBOX", "127.0.0.1", str(port), *map(str, files)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=DCMTK_ENV)


def test_kill_during_c_store_loses_nothing_acknowledged(tmp_path):
    files = write_images(tmp_path / "in", 40, pixels=20_000)
    kill_after = random.Random(SEED).randint(5, 30)
    server = ServeProcess(tmp_path / "root").start()
    try:
        sender = storescu(server.dicom_port, files)
        acknowledged, sending, output = [], None, []
        for line in sender.stdout:
            output.append(line)
            if line.startswith("I: Sending file: "):
                sending = Path(line.split(": ", 2)[2].strip())
            elif line.startswith("I: Received Store Response") and "Success" in line and sending:
                acknowledged.append(sending)
                if len(acknowledged) == kill_after:
                    server.kill()
        sender.wait(timeout=60)
        assert len(acknowledged) >= kill_after, "".join(output)
        stored = stored_objects(tmp_path / "root")
        for path in acknowledged:
            copies = stored.get(sop_uid(path))
            assert copies and len(copies) == 1, path
            assert dataset_bytes(copies[0]) == dataset_bytes(path.read_bytes())
        server.start()  # over whatever the kill left behind
        resend = storescu(server.dicom_port, files)
        resent = resend.communicate(timeout=120)[0]
        assert resend.returncode == 0 and resent.count("Received Store Response (Success)") == len(files), resent
    finally:
        server.stop()
    stored = stored_objects(tmp_path / "root")
    assert len(stored) == len(files) and all(len(copies) == 1 for copies in stored.values())
    for path in files:
        assert dataset_bytes(stored[sop_uid(path)][0]) == dataset_bytes(path.read_bytes())
    assert "Traceback" not in server.log()


def test_kill_during_an_incoming_import_loses_nothing_consumed(tmp_path):
    files = write_images(tmp_path / "in", 150, pixels=4_000)
    originals = {sop_uid(path): path.read_bytes() for path in files}
    kill_after = random.Random(SEED).randint(10, 120)
    server = ServeProcess(tmp_path / "root").start()
    incoming = tmp_path / "root" / "Viewbox Data" / "INCOMING"
    try:
        for path in files:  # hidden while written, then named: the watcher takes whole files only
            shutil.copyfile(path, incoming / f".{path.name}")
            (incoming / f".{path.name}").rename(incoming / path.name)

        def consumed() -> int:
            return len(files) - sum(1 for p in incoming.iterdir() if not p.name.startswith("."))

        eventually(lambda: consumed() >= kill_after, timeout=120, interval=0.005,
                   message=f"{kill_after} files imported")
        server.kill()
        gone = {p.name for p in files} - {p.name for p in incoming.iterdir()}
        stored = stored_objects(tmp_path / "root")
        for path in files:
            if path.name in gone:  # taken from INCOMING: acknowledged
                assert stored.get(sop_uid(path)) == [originals[sop_uid(path)]], path
        server.start()
        eventually(lambda: not any(incoming.iterdir()), timeout=120, message="INCOMING emptied")
    finally:
        server.stop()
    stored = stored_objects(tmp_path / "root")
    assert Counter(len(copies) for copies in stored.values()) == Counter({1: len(files)})
    assert {uid: copies[0] for uid, copies in stored.items()} == originals
    assert not list((tmp_path / "root" / "Viewbox Data" / "QUARANTINE").iterdir())
    assert "Traceback" not in server.log()

"""Fault suite: `viewbox serve` killed with SIGKILL at a seeded random point during C-STORE
(DCMTK storescu) and during an INCOMING import, then restarted: every acknowledged object is there,
byte for byte, and a resend stores nothing twice. Marked `fault`."""

from __future__ import annotations

import random
import shutil
from collections import Counter

import pytest

from helpers.instances import assert_stored_once, dataset_bytes, sop_uid, stored_objects, write_images
from helpers.polling import eventually
from helpers.serve_process import ServeProcess, resend_all, send_watching

pytestmark = pytest.mark.fault
SEED = 1010  # the kill points are random, but the same on every run (change it to explore)


def test_kill_during_c_store_loses_nothing_acknowledged(tmp_path):
    files = write_images(tmp_path / "in", 40, pixels=20_000)
    kill_after = random.Random(SEED).randint(5, 30)
    server = ServeProcess(tmp_path / "root").start()
    try:
        acknowledged = send_watching(server.dicom_port, files,
                                     lambda count: server.kill() if count == kill_after else None)
        assert len(acknowledged) >= kill_after
        stored = stored_objects(tmp_path / "root")
        for path in acknowledged:
            copies = stored.get(sop_uid(path))
            assert copies and len(copies) == 1, path
            assert dataset_bytes(copies[0]) == dataset_bytes(path.read_bytes())
        server.start()  # over whatever the kill left behind
        resend_all(server.dicom_port, files)
    finally:
        server.stop()
    assert_stored_once(tmp_path / "root", files)
    assert "Traceback" not in server.log()


@pytest.mark.xfail(strict=True, reason="found by this test, not fixed yet: files the INCOMING watcher had "
                   "claimed (moved into a hidden folder) when the process was killed are never imported "
                   "after the restart (incoming.py skips hidden folders)")
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

        def waiting() -> set[str]:  # in INCOMING, or claimed by the watcher (a hidden folder there)
            return {p.name.lstrip(".") for p in incoming.rglob("*") if p.is_file()}

        def consumed() -> int:
            return len(files) - len(waiting())

        eventually(lambda: consumed() >= kill_after, timeout=120, interval=0.005,
                   message=f"{kill_after} files imported")
        server.kill()
        gone = {p.name for p in files} - waiting()
        stored = stored_objects(tmp_path / "root")
        for path in files:
            if path.name in gone:  # taken from INCOMING: acknowledged
                assert stored.get(sop_uid(path)) == [originals[sop_uid(path)]], path
        server.start()
        eventually(lambda: not waiting(), timeout=120, message="INCOMING emptied")
    finally:
        server.stop()
    stored = stored_objects(tmp_path / "root")
    assert Counter(len(copies) for copies in stored.values()) == Counter({1: len(files)})
    assert {uid: copies[0] for uid, copies in stored.items()} == originals
    assert not list((tmp_path / "root" / "Viewbox Data" / "QUARANTINE").iterdir())
    assert "Traceback" not in server.log()

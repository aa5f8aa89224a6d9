"""The reading room: several `viewbox serve` on one PostgreSQL database and one data folder.

Overlapping studies sent to every node at once with DCMTK's storescu must all be answered
Success and stored once, with the right derived fields, and no traceback in any log; a node
killed with SIGKILL in the middle of an ingest loses nothing it acknowledged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import xmlrpc.client

import pydicom
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import create_engine, func, select

from helpers.dicom_peers import DCMTK_ENV, STORESCU
from helpers.postgres import postgres_url, reset_postgres
from helpers.reading_room import ServeProcess, generated_series
from viewbox.db import schema

pytestmark = [pytest.mark.postgres, pytest.mark.interop]


@pytest.fixture
def room(tmp_path, database_url_postgres):
    """Start nodes with `room(n)`; all share one data folder and one database."""
    nodes: list[ServeProcess] = []

    def start(count: int) -> list[ServeProcess]:
        started = [ServeProcess(tmp_path / "shared", database_url_postgres, f"NODE{i + 1}",
                                tmp_path / f"node{i + 1}.log") for i in range(count)]
        nodes.extend(started)
        return [node.wait_ready() for node in started]

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture
def database_url_postgres():
    url = postgres_url()
    reset_postgres(url)
    return url


def _engine(url: str):
    return create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def _storescu(node: ServeProcess, folder) -> subprocess.Popen:
    return subprocess.Popen([STORESCU, "-v", "-aec", node.aet, "+sd", "127.0.0.1", str(node.dicom_port),
                             str(folder)], env=DCMTK_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def test_overlapping_studies_sent_to_three_nodes_at_once(room, tmp_path, database_url_postgres):
    nodes = room(3)
    study1, study2 = generate_uid(), generate_uid()
    series = {
        "ct1": dict(study_uid=study1, modality="CT", series_number=1),
        "mr1": dict(study_uid=study1, modality="MR", series_number=2),
        "ct2": dict(study_uid=study2, modality="CT", series_number=1),
    }
    paths = {name: generated_series(tmp_path / "corpus" / name, 20, patient_id="ROOM1",
                                    series_uid=generate_uid(), **fields)
             for name, fields in series.items()}
    # node 1 and 2 get everything, node 3 the MR series of study 1 and study 2: every series arrives
    # at two or three nodes at once, and study 1's two series are created by different nodes.
    plans = [(nodes[0], ["ct1", "mr1", "ct2"]), (nodes[1], ["ct2", "mr1", "ct1"]), (nodes[2], ["mr1", "ct2"])]
    senders = []
    for node, names in plans:
        for name in names:
            senders.append((len(paths[name]), _storescu(node, paths[name][0].parent)))
    for expected, sender in senders:
        output, _ = sender.communicate(timeout=240)
        assert sender.returncode == 0, output
        assert output.count("Received Store Response (Success)") == expected, output

    engine = _engine(database_url_postgres)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(schema.image)) == 60
            rows = {r.series_instance_uid: r for r in conn.execute(select(schema.series))}
            assert sorted(r.number_of_images for r in rows.values()) == [20, 20, 20]
            studies = {r.study_instance_uid: r for r in conn.execute(select(schema.study))}
            assert {uid: s.number_of_images for uid, s in studies.items()} == {study1: 40, study2: 20}
            assert studies[study1].modality == "CT\\MR" and studies[study2].modality == "CT"
            stored = {r.sop_instance_uid: r.rel_path for r in conn.execute(select(schema.image))}
    finally:
        engine.dispose()
    files = tmp_path / "shared" / "Viewbox Data" / "DATABASE"
    sent = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for ps in paths.values() for p in ps}
    assert set(stored) == sent
    for uid, rel in stored.items():
        assert pydicom.dcmread(files / rel, stop_before_pixels=True).SOPInstanceUID == uid
    assert sorted(p.name for p in files.rglob("*") if p.is_file() and p.name.startswith(".")) == []
    assert len([p for p in files.rglob("*.dcm")]) == 60
    # every node answers from the shared database
    for node in nodes:
        reply = xmlrpc.client.ServerProxy(node.base_url + "/RPC2").DBWindowFind(
            {"request": "patientID == 'ROOM1'", "table": "Study"})
        assert sorted(e["numberOfImages"] for e in reply["elements"]) == ["20", "40"]
    for node in nodes:
        assert "Traceback" not in node.log(), node.log()
    info = subprocess.run([sys.executable, "-m", "viewbox", "info", "--json", "--data", str(tmp_path / "shared"),
                           "--database-url", database_url_postgres], capture_output=True, text=True, timeout=60)
    peers = json.loads(info.stdout)["peers"]
    assert sorted(p["node"].split("@")[0] for p in peers) == ["NODE1", "NODE2", "NODE3"]


def test_a_node_killed_mid_ingest_loses_nothing_it_acknowledged(room, tmp_path, database_url_postgres):
    from pynetdicom import AE
    from pynetdicom.sop_class import CTImageStorage

    first, second = room(2)
    paths = generated_series(tmp_path / "corpus", 120, patient_id="KILL1", study_uid=generate_uid(),
                             series_uid=generate_uid(), modality="CT", series_number=1)
    datasets = [pydicom.dcmread(p) for p in paths]
    acknowledged: list[str] = []
    enough = threading.Event()

    def send() -> None:
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
        assoc = ae.associate("127.0.0.1", first.dicom_port, ae_title=first.aet)
        try:
            for dataset in datasets:
                status = assoc.send_c_store(dataset)
                if not status or status.Status != 0x0000:
                    return
                acknowledged.append(str(dataset.SOPInstanceUID))
                if len(acknowledged) == 30:
                    enough.set()
        finally:
            enough.set()
            if assoc.is_established:
                assoc.abort()

    sender = threading.Thread(target=send)
    sender.start()
    assert enough.wait(120)
    first.process.kill()  # SIGKILL in the middle of the association
    sender.join(60)
    assert len(acknowledged) >= 30  # (mostly fewer than all: the kill comes mid-association)

    engine = _engine(database_url_postgres)
    files = tmp_path / "shared" / "Viewbox Data" / "DATABASE"
    try:
        with engine.connect() as conn:
            stored = {r.sop_instance_uid: r.rel_path for r in conn.execute(select(schema.image))}
        assert set(acknowledged) <= set(stored)
        for uid in acknowledged:
            assert pydicom.dcmread(files / stored[uid]).SOPInstanceUID == uid
        # the modality sends everything again, to the node still running: each object once
        output, _ = _storescu(second, paths[0].parent).communicate(timeout=240)
        assert output.count("Received Store Response (Success)") == len(paths), output
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(schema.image)) == len(paths)
            assert conn.scalar(select(schema.study.c.number_of_images)) == len(paths)
            assert conn.scalar(select(schema.series.c.number_of_images)) == len(paths)
    finally:
        engine.dispose()
    assert "Traceback" not in second.log(), second.log()

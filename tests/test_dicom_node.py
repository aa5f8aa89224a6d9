"""The DICOM node as a peer meets it (pynetdicom as the peer, real sockets): idle connections,
calling AE titles, malformed C-STORE requests, and live events from the node's own process."""

from __future__ import annotations

import socket

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification

from helpers.polling import eventually
from helpers.samples import SAMPLES

CT_SMALL = SAMPLES / "pydicom/test_files/CT_small.dcm"


@pytest.fixture
def start_node(tmp_path):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    started = []

    def start(**overrides):
        settings = Settings(**{"data_root": tmp_path / f"node{len(started)}", "port": 0, "dicom_port": 0,
                               **overrides})
        running = RunningWorkstation(settings).start_in_thread()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def _associate(node, calling: str = "TESTSCU", context=Verification):
    ae = AE(ae_title=calling)
    ae.acse_timeout = 5
    ae.add_requested_context(context)
    return ae.associate("127.0.0.1", node.dicom_port, ae_title="VIEWBOX")


def _echo(node, calling: str = "TESTSCU") -> bool:
    assoc = _associate(node, calling)
    if not assoc.is_established:
        return False
    try:
        return assoc.send_c_echo().Status == 0
    finally:
        assoc.release()


def test_connections_that_never_associate_are_dropped_and_do_not_lock_the_node_out(start_node):
    node = start_node(dicom_max_associations=3)
    idle = [socket.create_connection(("127.0.0.1", node.dicom_port)) for _ in range(5)]
    try:
        for connection in idle:
            connection.settimeout(20)
        # dropped after dicom_associate_timeout (5 s): the server closes them, we read EOF
        assert [connection.recv(1) for connection in idle] == [b""] * 5
        assert eventually(lambda: _echo(node), timeout=10, message="an association after idle connections")
    finally:
        for connection in idle:
            connection.close()


def test_a_token_makes_unknown_calling_aets_refused_by_default(start_node):
    from viewbox.config import Location

    node = start_node(token="s3cret-token", locations=(Location("ris", "FRIEND", "127.0.0.1", 104),),
                      calling_aets=("MODALITY1",))
    assert _echo(node, "FRIEND") and _echo(node, "MODALITY1")
    refused = _associate(node, "STRANGER")
    assert refused.is_rejected
    opened = start_node(token="s3cret-token", accept_calling_aets="any")
    assert _echo(opened, "STRANGER")


def test_beyond_loopback_unknown_calling_aets_are_refused_by_default():
    from viewbox.config import Location, Settings, accepted_calling_aets

    ris = (Location("ris", "FRIEND", "10.0.0.7", 104),)
    assert accepted_calling_aets(Settings(host="127.0.0.1", locations=ris)) is None
    assert accepted_calling_aets(Settings(host="192.168.1.20", token="t", locations=ris)) == ["FRIEND"]
    assert accepted_calling_aets(Settings(host="0.0.0.0", allow_clients=("10.0.0.0/8",))) == []
    assert accepted_calling_aets(Settings(host="0.0.0.0", allow_clients=("10.0.0.0/8",),
                                          accept_calling_aets="any")) is None


def test_known_calling_aets_with_none_configured_refuses_everyone(start_node):
    node = start_node(accept_calling_aets="known")
    assert _associate(node, "ANYONE").is_rejected


def test_a_non_ascii_affected_sop_instance_uid_is_refused_cleanly(start_node, capfd):
    node = start_node()
    assoc = _associate(node, context=CTImageStorage)
    assert assoc.is_established
    try:
        bad = pydicom.dcmread(CT_SMALL)
        bad.SOPInstanceUID = "1.2.3.\u00e9"
        status = assoc.send_c_store(bad)
        assert status.Status == 0xC000
        assert "not a UID" in status.ErrorComment
        good = pydicom.dcmread(CT_SMALL)
        assert assoc.send_c_store(good).Status == 0x0000  # the association goes on
    finally:
        assoc.release()
    logged = capfd.readouterr().err
    assert "Traceback" not in logged and "incident" not in logged
    assert "not a UID" in logged


def test_objects_stored_by_the_node_process_reach_the_workstation_listeners(start_node):
    node = start_node()
    heard: list[list[str]] = []
    node.workstation.on_stored(heard.append)
    assoc = _associate(node, context=CTImageStorage)
    try:
        sent = pydicom.dcmread(CT_SMALL)
        assert assoc.send_c_store(sent).Status == 0
    finally:
        assoc.release()
    eventually(lambda: [str(sent.StudyInstanceUID)] in heard, timeout=10, message="the stored event")

"""The fence around the DICOM node's pynetdicom tuning (dicom/tuning.py): it applies only to the
pynetdicom it was tested with, every internal it touches exists there, what it encodes itself is
what pynetdicom encodes, and the node works without it."""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid
from pynetdicom import AE, __version__
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.sop_class import CTImageStorage

from helpers.samples import SAMPLES
from viewbox.dicom import tuning
from viewbox.dicom.encoding import p_data_tf, store_success

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_every_pynetdicom_internal_the_tuning_touches_exists():
    assert tuning.missing_internals() == []
    assert tuning.active()


def test_the_installed_pynetdicom_is_a_tested_one_and_the_dependency_is_bounded_to_them():
    assert ".".join(__version__.split(".")[:2]) in tuning.TESTED_VERSIONS
    dependency = next(d for d in tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
                      if d.startswith("pynetdicom"))
    upper = re.search(r"<\s*([\d.]+)", dependency)
    assert upper, f"{dependency}: no upper bound"
    tested_major_minor = max(tuple(map(int, v.split("."))) for v in tuning.TESTED_VERSIONS)
    assert tuple(map(int, upper.group(1).split(".")))[:2] == (tested_major_minor[0], tested_major_minor[1] + 1)


def test_an_untested_pynetdicom_runs_stock_and_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(tuning, "__version__", "9.9.0")
    decide = tuning.active.__wrapped__
    with caplog.at_level(logging.WARNING, logger="viewbox.dicom.tuning"):
        assert decide() is False
    assert "not a version" in caplog.text and "stock pynetdicom" in caplog.text


@pytest.mark.parametrize("message_id", [1, 300, 65535])
def test_quick_store_success_response_is_what_pynetdicom_encodes(message_id):
    rsp = C_STORE()
    rsp.MessageID = rsp.MessageIDBeingRespondedTo = message_id
    rsp.AffectedSOPClassUID = CTImageStorage
    rsp.AffectedSOPInstanceUID = generate_uid() if message_id != 300 else "1.2.3"  # odd length
    rsp.Status = 0x0000
    message = C_STORE_RSP()
    message.primitive_to_message(rsp)
    (pdata,) = list(message.encode_msg(1, 1024 * 1024))
    assert pdata.presentation_data_value_list[0][1] == b"\x03" + store_success(rsp)
    pdu = P_DATA_TF()
    pdu.from_primitive(pdata)
    assert pdu.encode() == p_data_tf(1, b"\x03" + store_success(rsp))
    rsp.Status = 0xA700
    assert store_success(rsp) is None  # failures (and their comments) go through pynetdicom


@pytest.mark.parametrize("tuned", [True, False])
def test_the_node_stores_with_and_without_the_tuning(tuned, tmp_path):
    from viewbox.config import Settings
    from viewbox.server import RunningWorkstation

    settings = Settings(data_root=tmp_path, port=0, dicom_port=0, dicom_tuning=tuned)
    running = RunningWorkstation(settings).start_in_thread()
    try:
        ae = AE(ae_title="TUNINGTEST")
        ae.add_requested_context(CTImageStorage)
        assoc = ae.associate("127.0.0.1", running.dicom_port, ae_title="VIEWBOX")
        assert assoc.is_established
        try:
            sent = pydicom.dcmread(SAMPLES / "pydicom/test_files/CT_small.dcm")
            statuses = [assoc.send_c_store(sent).Status for _ in range(3)]  # the 2nd and 3rd: quickened
        finally:
            assoc.release()
        assert statuses == [0, 0, 0]
        assert running.workstation.library.known_sop_uids([str(sent.SOPInstanceUID)])
    finally:
        running.stop()

"""Fault suite: seeded fuzzing of what a RIS or a modality sends — XML-RPC bodies, predicates,
URLs and DICOM headers. No 5xx, no traceback in the log, and the workstation answers correctly
afterwards. Marked `fault`; the seed makes every run the same (change it to explore)."""

from __future__ import annotations

import logging
import random
from urllib.parse import quote

import httpx
import pytest

from helpers.samples import SAMPLES
from test_control_support import make_study, serve
from viewbox.control.urls import parse_scheme_url
from viewbox.errors import BadRequest

pytestmark = pytest.mark.fault
SEED = 1010
SAFE_METHODS = ["DBWindowFind", "FindObject", "DisplayStudy", "DisplaySeries", "GetJob", "CloseAllWindows",
                "SelectAlbum", "GetDisplayed2DViewerSeries", "PathToFrontDCM", "system.methodHelp",
                "DisplayStudyListByPatientName", "Nope", "", "DBWindowFind\x00", "é"]
ATTRIBUTES = ["name", "patientID", "studyInstanceUID", "date", "modality", "accessionNumber", "series",
              "series.modality", "albums.name", "comment", "noSuchKey", "study.name", "SELF", "$TODAY"]
OPERATORS = ["==", "!=", "<", ">=", "CONTAINS[cd]", "BEGINSWITH", "LIKE", "MATCHES", "IN", "BETWEEN",
             "ANY", "ALL", "SUBQUERY(", "AND", "OR", "NOT", "&&", "||", "(", ")", "{", "}", ",", "%@"]
LITERALS = ["'x'", '"SMITH"', "'*'", "1", "-2.5e300", "nil", "YES", "CAST('2024-01-01', 'NSDate')",
            "'(?i).*'", "'\\'", "'\u00e9\u0000'", "{1, 2}", "$x", "@count", "1e999999"]


def random_value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.choice(["string", "int", "double", "boolean", "base64", "array", "struct", "nil", "junk",
                       "dateTime.iso8601", "untyped"] if depth < 6 else ["string", "int", "junk"])
    text = rng.choice(["", "1", "x" * rng.randint(0, 300), "-9" * 30, "&amp;", "\u00e9", "NaN", "1e999", "==",
                       "PatientID", "<"[:0]])
    if kind == "array":
        inner = "".join(random_value(rng, depth + 1) for _ in range(rng.randint(0, 4)))
        return f"<value><array><data>{inner}</data></array></value>"
    if kind == "struct":
        members = "".join(f"<member><name>{rng.choice(['request', 'table', 'PatientID', 'execute', ''])}"
                          f"</name>{random_value(rng, depth + 1)}</member>" for _ in range(rng.randint(0, 4)))
        return f"<value><struct>{members}</struct></value>"
    if kind == "untyped":
        return f"<value>{text}</value>"
    if kind == "junk":
        return rng.choice(["<value><frob>1</frob></value>", "<value><int>x</int></value>", "<value>",
                           "<value><struct><member><value/></member></struct></value>"])
    return f"<value><{kind}>{text}</{kind}></value>"


def random_body(rng: random.Random) -> bytes:
    params = "".join(f"<param>{random_value(rng)}</param>" for _ in range(rng.randint(0, 3)))
    body = (f"<?xml version='1.0'?><methodCall><methodName>{rng.choice(SAFE_METHODS)}</methodName>"
            f"<params>{params}</params></methodCall>").encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:  # damaged on the way
        cut = bytearray(body[: rng.randint(0, len(body))])
        for _ in range(rng.randint(0, 5)):
            if cut:
                cut[rng.randrange(len(cut))] = rng.randrange(256)
        body = bytes(cut)
    return body


def random_predicate(rng: random.Random) -> str:
    pieces = [rng.choice(ATTRIBUTES + OPERATORS + LITERALS) for _ in range(rng.randint(1, 14))]
    if rng.random() < 0.5:  # mostly well-formed comparisons joined by AND/OR
        terms = [f"{rng.choice(ATTRIBUTES)} {rng.choice(OPERATORS[:8])} {rng.choice(LITERALS)}"
                 for _ in range(rng.randint(1, 6))]
        return f" {rng.choice(['AND', 'OR'])} ".join(terms)
    return " ".join(pieces)


def random_query(rng: random.Random) -> str:
    alphabet = "aZ09=&?%'\"+ ;/#\\\x00\u00e9\ufffd"
    junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
    return f"methodName={quote(rng.choice(SAFE_METHODS))}&{junk}"


@pytest.fixture
def fuzzed(sqlite_settings, tmp_path, caplog):
    make_study(tmp_path / "f", images=2, patient_id="FUZZ", patient_name="FUZZ^ME")
    with serve(sqlite_settings) as server:
        assert server.workstation.import_paths([tmp_path / "f"]).imported == 2
        caplog.set_level(logging.WARNING)
        yield server
        # still answering, correctly
        reply = httpx.get(server.base_url + "/", params={
            "methodName": "DBWindowFind", "request": "patientID == 'FUZZ'", "table": "Study", "format": "json"})
        assert reply.status_code == 200 and [e["patientID"] for e in reply.json()["elements"]] == ["FUZZ"]
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def test_fuzzed_xmlrpc_bodies_predicates_and_urls_never_give_5xx(fuzzed):
    rng = random.Random(SEED)
    base = fuzzed.base_url
    with httpx.Client(timeout=30) as client:
        for _ in range(150):
            body = random_body(rng)
            reply = client.post(base + "/", content=body)
            assert reply.status_code < 500, (body, reply.text)
        for _ in range(200):
            predicate = random_predicate(rng)
            table = rng.choice(["Study", "Series", "Image", "Album", "Nope"])
            reply = client.get(base + "/", params={"methodName": "DBWindowFind", "request": predicate,
                                                   "table": table, "format": "json"})
            assert reply.status_code < 500, (predicate, reply.text)
        for _ in range(150):
            query = random_query(rng)
            reply = client.get(f"{base}/?{quote(query, safe='=&?%+;/')}")
            assert reply.status_code < 500, (query, reply.text)
            try:
                parse_scheme_url(f"{rng.choice(['osirix', 'horos', 'viewbox', 'http'])}://?{query}")
            except BadRequest:
                pass


def test_fuzzed_dicom_headers_are_stored_or_set_aside(fuzzed, tmp_path):
    rng = random.Random(SEED)
    seeds = [p.read_bytes() for p in sorted((SAMPLES / "pydicom" / "test_files").glob("*.dcm"))[:12]]
    folder = tmp_path / "mutants"
    folder.mkdir()
    for number in range(120):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):  # the header, where the reader has to make sense of things
            position = rng.randrange(128, min(len(data), 3000))
            data[position] = rng.randrange(256)
        if rng.random() < 0.2:
            data = data[: rng.randint(132, len(data))]
        (folder / f"{number:03d}.dcm").write_bytes(bytes(data))
    report = fuzzed.workstation.import_paths([folder])
    assert report.not_stored == 0
    assert report.imported + report.already_present + report.not_dicom + report.quarantined == 120

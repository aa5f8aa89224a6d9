"""The importer and the study database, on SQLite and PostgreSQL, with the real sample corpus."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest
from sqlalchemy import func, select

from helpers.samples import manifest
from viewbox.db import schema
from viewbox.errors import ImportFailure
from viewbox.library import element
from viewbox.library.derived import study_modality

# Files of the corpus that are DICOM but unusable: they must end up in QUARANTINE with a reason.
EXPECTED_QUARANTINE = {
    "pydicom/test_files/MR_truncated.dcm",
    "pydicom/test_files/rtplan_truncated.dcm",
    "fo-dicom/GH177_D_CLUNIE_CT1_IVRLE_BigEndian_undefined_length.dcm",
    "pydicom/test_files/meta_missing_tsyntax.dcm",
    "fo-dicom/GH340.dcm",
}


def count(ws, table) -> int:
    with ws.database.read() as conn:
        return conn.scalar(select(func.count()).select_from(table))


def study_rows(ws) -> list[dict]:
    with ws.database.read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(schema.study))]


def test_whole_corpus_counts_match_the_manifest(workstation, samples):
    report = workstation.import_paths([samples])
    rows = manifest()
    storable = {
        r["sop_instance_uid"] for r in rows
        if r["sop_instance_uid"] and r["study_uid"] and r["series_uid"]
        and (r["read"] == "ok" or r["read"].startswith("force-only"))
        and r["path"] not in EXPECTED_QUARANTINE
    }
    assert report.imported == len(storable)
    assert count(workstation, schema.image) == len(storable)
    # every file of the corpus is accounted for, once
    files = [p for p in samples.rglob("*") if p.is_file() and p.name.upper() != "DICOMDIR"]
    assert report.seen == len(files)
    assert report.imported + report.already_present + report.not_dicom + report.quarantined == len(files)
    quarantined = {Path(e["path"]).relative_to(samples).as_posix() for e in report.errors}
    assert EXPECTED_QUARANTINE <= quarantined
    assert report.not_dicom >= 3  # README.md, MANIFEST.tsv, LICENSES.md
    # the quarantine holds a copy and a note for each
    notes = list(workstation.database.quarantine_dir.glob("*.reason.json"))
    assert len(notes) == report.quarantined
    # the user's folder is untouched (copied, not moved)
    assert (samples / "pydicom/test_files/MR_truncated.dcm").exists()
    # nothing half-written left behind
    assert not list(workstation.database.temp_dir.rglob("*.part"))


def test_dicomdir_set_and_derived_fields(workstation, samples):
    report = workstation.import_paths([samples / "pydicom/test_files/dicomdirtests/DICOMDIR"])
    assert report.imported == 31
    studies = study_rows(workstation)
    assert len(studies) == 6
    assert {s["patient_name"] for s in studies} == {"Doe^Peter", "Doe^Archibald"}
    assert count(workstation, schema.series) == 13
    with workstation.database.read() as conn:
        for study in studies:
            images = conn.scalar(select(func.count()).select_from(schema.image)
                                 .join(schema.series).where(schema.series.c.study_pk == study["pk"]))
            assert study["number_of_images"] == images
            dates = conn.scalar(select(func.min(schema.image.c.date)).join(schema.series)
                                .where(schema.series.c.study_pk == study["pk"]))
            assert study["date"] == dates
        for series in conn.execute(select(schema.series)).mappings():
            n = conn.scalar(select(func.count()).select_from(schema.image)
                            .where(schema.image.c.series_pk == series["pk"]))
            assert series["number_of_images"] == n
    # a SEG of Doe^Archibald's CT2 joins that study and extends its modality list
    ct2 = [s for s in studies if s["patient_name"] == "Doe^Archibald" and "CT" in s["modality"]]
    assert len(ct2) == 1
    before = ct2[0]["number_of_images"]
    workstation.import_paths([samples / "highdicom/seg_image_ct_binary.dcm"])
    after = next(s for s in study_rows(workstation) if s["pk"] == ct2[0]["pk"])
    assert after["modality"] == "CT\\SEG"
    assert after["number_of_images"] == before + 1


def test_character_sets_come_out_as_unicode(workstation, samples):
    charset_files = sorted((samples / "pydicom/charset_files").glob("chr*.dcm")) + [
        samples / "fo-dicom/GH1301.dcm", samples / "fo-dicom/charset/chrGB2312.dcm"]
    workstation.import_paths(charset_files)
    names = {s["patient_name"] for s in study_rows(workstation)}
    expected = {
        "Buc^Jérôme",  # ISO_IR 100
        "Äneas^Rüdiger",  # German
        "Διονυσιος",  # Greek
        "قباني^لنزار",  # Arabic
        "שרון^דבורה",  # Hebrew
        "Люкceмбypг",  # Cyrillic
        "Yamada^Tarou=山田^太郎=やまだ^たろう",  # Japanese ISO 2022
        "Hong^Gildong=洪^吉洞=홍^길동",  # Korean
        "Wang^XiaoDong=王^小东",  # Chinese GB18030
        "Wang^XiaoDong=王^小東",  # UTF-8
        "Zhang^XiaoDong=张^小东",  # GB2312 via ISO 2022, escape sequences removed
    }
    missing = expected - names
    assert not missing, f"not found: {missing}; have {sorted(names)}"
    assert not any("\x1b" in n for n in names)
    # the folded shadow column makes [cd] searches work on them
    with workstation.database.read() as conn:
        folded = set(conn.scalars(select(schema.study.c.patient_name__cd)))
    assert "buc^jerome" in folded and "aneas^rudiger" in folded


def test_duplicates_are_not_stored_twice(workstation, samples):
    mr_small = [r["path"] for r in manifest()
                if r["sop_instance_uid"] == "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457"
                and r["path"] not in EXPECTED_QUARANTINE]
    assert len(mr_small) >= 5
    report = workstation.import_paths([samples / p for p in mr_small])
    assert report.imported == 1
    assert report.already_present == len(mr_small) - 1
    stored = list(workstation.database.files_dir.rglob("*.dcm"))
    assert len(stored) == 1
    first = pydicom.dcmread(samples / mr_small[0])
    assert pydicom.dcmread(stored[0]).file_meta.TransferSyntaxUID == first.file_meta.TransferSyntaxUID
    again = workstation.import_paths([samples / mr_small[0]])
    assert (again.imported, again.already_present) == (0, 1)


def test_not_dicom_and_broken_files_do_not_stop_the_import(workstation, samples, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.dcm").write_bytes(b"")
    shutil.copy(samples / "pydicom/test_files/MR_truncated.dcm", folder)
    shutil.copy(samples / "pydicom/test_files/CT_small.dcm", folder)
    report = workstation.import_paths([folder])
    assert (report.imported, report.not_dicom, report.quarantined) == (1, 2, 1)
    assert report.errors[0]["reason"].startswith("truncated")
    assert (folder / "MR_truncated.dcm").exists()  # the user's file is copied, not moved
    assert len(list(workstation.database.quarantine_dir.glob("*MR_truncated.dcm"))) == 1


def test_zip_import_and_hostile_zips(workstation, samples, tmp_path):
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(samples / "pydicom/test_files/CT_small.dcm", "a/CT_small.dcm")
        zf.write(samples / "pydicom/test_files/MR_small.dcm", "b/MR_small.dcm")
    report = workstation.import_paths([archive])
    assert report.imported == 2
    assert archive.exists()
    # the unpacked entries become the stored files (linked, not copied again), byte for byte
    stored = sorted(p.read_bytes() for p in workstation.database.files_dir.rglob("*.dcm"))
    assert stored == sorted((samples / "pydicom/test_files" / name).read_bytes()
                            for name in ("CT_small.dcm", "MR_small.dcm"))
    assert all(p.stat().st_nlink == 1 for p in workstation.database.files_dir.rglob("*.dcm"))
    assert not list(workstation.database.temp_dir.iterdir())
    again = workstation.import_paths([archive])  # names taken: dropped, nothing left in TEMP
    assert (again.imported, again.already_present) == (0, 2)
    assert not list(workstation.database.temp_dir.iterdir())

    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as zf:
        zf.writestr("../../escaped.dcm", (samples / "pydicom/test_files/CT_small.dcm").read_bytes())
    report = workstation.import_paths([slip])
    assert report.imported == 0 and "escapes" in report.errors[0]["reason"]
    assert not list(tmp_path.rglob("escaped.dcm"))

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.dcm", b"\0" * (20 * 1024 * 1024))
    report = workstation.import_paths([bomb])
    assert report.imported == 0 and "ratio" in report.errors[0]["reason"]
    assert not list(workstation.database.temp_dir.iterdir())


def test_files_are_copied_where_the_kernel_cannot_copy_between_them(workstation, samples, monkeypatch):
    """No copy_file_range between these files (older kernels, some file systems): sendfile."""
    import errno
    import os

    def unsupported(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    sources = [samples / "pydicom/test_files/CT_small.dcm", samples / "pydicom/test_files/MR_small.dcm"]
    assert workstation.import_paths(sources).imported == 2
    stored = sorted(p.read_bytes() for p in workstation.database.files_dir.rglob("*.dcm"))
    assert stored == sorted(p.read_bytes() for p in sources)


def test_link_import_copies_what_cannot_be_linked(workstation, samples, monkeypatch):
    """Another file system (EXDEV) or a refusal (EPERM): the file is copied instead."""
    import errno
    import os

    real_link = os.link

    def cross_device(source, target, *args, **kwargs):
        if str(source).startswith(str(samples)):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_link(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "link", cross_device)
    source = samples / "pydicom/test_files/CT_small.dcm"
    report = workstation.import_paths([source], link=True)
    assert report.imported == 1
    stored = next(workstation.database.files_dir.rglob("*.dcm"))
    assert stored.read_bytes() == source.read_bytes()
    assert stored.stat().st_ino != source.stat().st_ino


def test_delete_study_removes_everything(workstation, samples):
    workstation.import_paths([samples / "pydicom/test_files/dicomdirtests"])
    studies = study_rows(workstation)
    victim = max(studies, key=lambda s: s["number_of_images"])
    workstation.library.albums.add("Interesting Cases", [victim["pk"], studies[0]["pk"]])
    files_before = len(list(workstation.database.files_dir.rglob("*.dcm")))
    workstation.library.delete_studies([victim["pk"]])
    assert len(study_rows(workstation)) == 5
    assert count(workstation, schema.image) == 31 - victim["number_of_images"]
    assert len(list(workstation.database.files_dir.rglob("*.dcm"))) == files_before - victim["number_of_images"]
    with workstation.database.read() as conn:
        members = list(conn.scalars(select(schema.album_study.c.study_pk)))
    assert victim["pk"] not in members and len(members) == (0 if victim["pk"] == studies[0]["pk"] else 1)
    assert not (workstation.database.files_dir / victim["study_instance_uid"]).exists()


def test_new_database_gets_osirix_default_albums(workstation):
    with workstation.database.read() as conn:
        albums = {r.name: r for r in conn.execute(select(schema.album))}
    assert "Interesting Cases" in albums and not albums["Interesting Cases"].smart_album
    assert albums["Just Added (last hour)"].predicate_string == "dateAdded >= $NSDATE_LASTHOUR"
    assert all(f"Today {m}" in albums and f"Yesterday {m}" in albums
               for m in ("CT", "MR", "US", "MG", "CR", "XA", "RF"))
    assert "Today" not in albums
    assert "Cases with comments" in albums


def test_element_structs_are_strings_in_osirix_form(workstation, samples):
    workstation.import_paths([samples / "pydicom/test_files/CT_small.dcm"])
    with workstation.database.read() as conn:
        study = dict(conn.execute(select(schema.study)).mappings().one())
        image = dict(conn.execute(select(schema.image)).mappings().one())
    study_element = element("Study", study)
    assert all(isinstance(v, str) for v in study_element.values())
    assert study_element["name"] == "CompressedSamples CT1"
    assert study_element["numberOfImages"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", study_element["date"])
    assert "comment" not in study_element  # absent values are left out
    image_element = element("Image", image, workstation.database.files_dir)
    assert Path(image_element["path"]).is_file()
    assert image_element["sopInstanceUID"] == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def test_a_crash_before_commit_leaves_no_row_and_reimport_heals(workstation, samples, monkeypatch):
    library = workstation.library

    def crash(staged):
        raise RuntimeError("power cut")

    monkeypatch.setattr(library, "commit", crash)
    failed = workstation.import_paths([samples / "pydicom/test_files/CT_small.dcm"])
    assert (failed.imported, failed.not_stored) == (0, 1) and "power cut" in failed.errors[0]["reason"]
    assert count(workstation, schema.image) == 0
    leftovers = list(workstation.database.files_dir.rglob("*.dcm"))
    assert leftovers  # named before the commit that never came
    for leftover in leftovers:  # a file without a row does not count, whatever it holds
        leftover.write_bytes(b"half-written")
    monkeypatch.undo()
    report = workstation.import_paths([samples / "pydicom/test_files/CT_small.dcm"])
    assert report.imported == 1
    stored = list(workstation.database.files_dir.rglob("*.dcm"))
    assert len(stored) == 1 and not list(workstation.database.files_dir.rglob(".*"))
    assert stored[0].read_bytes() == (samples / "pydicom/test_files/CT_small.dcm").read_bytes()


def test_study_modality_rule():
    assert study_modality(["CT", "SR", "MR", "CT"]) == "CT\\MR"
    assert study_modality(["SR", "PR"]) == "SR\\PR"
    assert study_modality(["RTSTRUCT", "CT"]) == "RT\\CT"
    assert study_modality([]) == "OT"


def test_fast_header_reads_give_what_the_whole_header_gives(samples):
    """The fast walk (scan.py) and the direct decoding of raw values, for a file, a C-STORE's bare
    data set and a Part 10 object in memory: the same row values as the whole header converted
    by pydicom, on every sample."""
    from io import BytesIO

    from pydicom.filereader import _read_file_meta_info

    from viewbox.library.instance import (
        instance_from_dataset,
        read_instance,
        read_part10,
        read_received,
    )

    compared = 0
    for path in sorted(samples.rglob("*.dcm")):
        raw = path.read_bytes()
        if raw[128:132] != b"DICM":
            continue
        fp = BytesIO(raw)
        fp.seek(132)
        try:
            ts = str(_read_file_meta_info(fp).TransferSyntaxUID)
            whole_header = pydicom.dcmread(BytesIO(raw), stop_before_pixels=True, force=True)
            for _ in whole_header:  # converted by pydicom: _text's plain-ASCII path is not taken
                pass
            whole = instance_from_dataset(whole_header)
        except Exception:  # noqa: BLE001, S112 - only files the whole-header path reads are compared
            continue
        if ts == "1.2.840.10008.1.2.1.99":
            continue
        fast_reads = [read_received(BytesIO(raw[fp.tell():]), ts)]
        try:
            fast_reads.append(read_instance(path))
        except ImportFailure:  # truncated: refused by both, pydicom's reason given
            with pytest.raises(ImportFailure):
                read_part10(raw)
        else:
            fast_reads.append(read_part10(raw))
        for fast in fast_reads:
            assert (fast.study, fast.series) == (whole.study, whole.series), path
            assert {**fast.image, "transfer_syntax_uid": str(fast.image["transfer_syntax_uid"])} == {
                **whole.image, "transfer_syntax_uid": str(whole.image["transfer_syntax_uid"])}, path
        compared += 1
    assert compared > 100


def test_a_series_uid_claimed_by_another_study_is_refused_without_an_empty_study(workstation, samples,
                                                                                 tmp_path):
    """Issue 10 defect 13: the object is quarantined with the reason; no study row without images,
    the first study's counts unchanged, no file left under the refused study's folder."""
    original = samples / "pydicom/test_files/CT_small.dcm"
    assert workstation.import_paths([original]).imported == 1
    stray = pydicom.dcmread(original)
    stray.StudyInstanceUID = "1.2.826.0.1.3680043.2.1143.999.1"
    stray.SOPInstanceUID = "1.2.826.0.1.3680043.2.1143.999.2"
    stray.save_as(tmp_path / "stray.dcm")
    report = workstation.import_paths([tmp_path / "stray.dcm"])
    assert (report.imported, report.quarantined) == (0, 1)
    assert "belongs to another study" in report.errors[0]["reason"]
    studies = study_rows(workstation)
    assert [s["number_of_images"] for s in studies] == [1]
    assert count(workstation, schema.image) == 1
    assert not (workstation.database.files_dir / stray.StudyInstanceUID).exists()

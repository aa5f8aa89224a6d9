"""A reading room for tests: several `viewbox serve` processes on one PostgreSQL database and one
data folder, and generated studies to send to them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from helpers.dicom_peers import free_port, stop_process, wait_for_port
from helpers.samples import SAMPLES

TEMPLATE = SAMPLES / "pydicom/test_files/CT_small.dcm"


class ServeProcess:
    """One node: `viewbox serve` with its own ports and AE title, logging to `log_path`."""

    def __init__(self, data_root: Path, database_url: str, aet: str, log_path: Path):
        self.aet = aet
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "viewbox", "serve", "--data", str(data_root), "--database-url",
             database_url, "--port", str(self.http_port), "--dicom-port", str(self.dicom_port),
             "--aet", aet], stdout=self._log, stderr=subprocess.STDOUT, env=os.environ.copy())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def wait_ready(self) -> ServeProcess:
        wait_for_port(self.http_port, self.process, 60)
        wait_for_port(self.dicom_port, self.process, 60)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()


def generated_series(folder: Path, count: int, *, patient_id: str, study_uid: str, series_uid: str,
                     modality: str, series_number: int) -> list[Path]:
    """`count` small CT-shaped objects of one series (new SOP Instance UIDs), one file each."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(TEMPLATE)
    template.PatientID = patient_id
    template.PatientName = f"ROOM^{patient_id}"
    template.StudyInstanceUID = study_uid
    template.SeriesInstanceUID = series_uid
    template.Modality = modality
    template.SeriesNumber = series_number
    paths = []
    for index in range(count):
        template.SOPInstanceUID = generate_uid()
        template.file_meta.MediaStorageSOPInstanceUID = template.SOPInstanceUID
        template.InstanceNumber = index + 1
        path = folder / f"{index:04d}.dcm"
        template.save_as(path)
        paths.append(path)
    return paths

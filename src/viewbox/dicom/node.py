"""The DICOM node (placeholder until the DICOM node lands)."""

from __future__ import annotations


class DicomNode:
    """Application entity of the workstation."""

    def __init__(self, workstation):
        self.workstation = workstation
        self.port: int | None = None

    def start(self) -> None:
        self.port = None

    def stop(self) -> None:
        pass

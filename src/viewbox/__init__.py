"""Viewbox: a DICOM workstation that hospital software controls remotely (OsiriX-compatible)."""

__version__ = "0.1.0"

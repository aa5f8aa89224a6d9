"""Viewbox as a DICOMweb server: QIDO-RS, WADO-RS and STOW-RS under `/dicom-web`, WADO-URI at
`/wado` (PS3.18), beside the control API and the web UI behind the same security.

The client side (Retrieve from a DICOMweb PACS) is `viewbox.dicom.dicomweb`.
"""

from .cors import CorsMiddleware
from .routes import DicomWeb

__all__ = ["CorsMiddleware", "DicomWeb"]

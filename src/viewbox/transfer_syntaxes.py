"""Transfer syntax UIDs the workstation names itself, in one place (plain strings: the fast header
walk uses them without importing pydicom).

The DICOM node offers UNCOMPRESSED + LOSSLESS + LOSSY for storage; the header reader needs to
know which data sets are implicit VR, big endian or deflated; sending converts to NATIVE when a
peer does not accept the stored syntax.
"""

from __future__ import annotations

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
IMPLICIT_LITTLE = "1.2.840.10008.1.2"
BIG_ENDIAN = "1.2.840.10008.1.2.2"  # Explicit VR Big Endian (retired, still sent by old modalities)
DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian

# Uncompressed little endian, preferred first: what every peer accepts.
NATIVE = (EXPLICIT_LITTLE, IMPLICIT_LITTLE)

UNCOMPRESSED = [EXPLICIT_LITTLE, IMPLICIT_LITTLE, BIG_ENDIAN, DEFLATED]
LOSSLESS = [
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
    "1.2.840.10008.1.2.4.201",  # HTJ2K Lossless
    "1.2.840.10008.1.2.4.202",  # HTJ2K Lossless RPCL
    "1.2.840.10008.1.2.5",  # RLE Lossless
]
LOSSY = [
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.203",  # HTJ2K
]

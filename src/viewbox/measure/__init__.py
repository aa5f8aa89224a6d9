"""Measurements and annotations in real units: shapes on an image (frame), values from the stored
pixels after the modality LUT, kept in the database, offered to the control API and the web UI.

- `geometry.py`: pixel spacing and its caveats, patient coordinates, shape geometry and masks.
- `statistics.py`: what a shape measures (lengths, angles, ROI statistics, HU, SUVbw).
- `service.py`: `Measurements`, the workstation's service (add, list, delete, listeners).
"""

from .service import Measurements, parse_points, wire

__all__ = ["Measurements", "parse_points", "wire"]

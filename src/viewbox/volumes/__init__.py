"""Volumes: stacks of parallel slices in patient space, their reformats (MPR), slabs (MIP,
MinIP, average) and a memory-bounded cache."""

from .geometry import FramePlacement, StackGeometry, VolumeError, placement_of, stack_geometry
from .reslice import PLANE_NAMES, SLAB_MODES, Plane, Reformat, reslice, standard_plane
from .volume import Volume, VolumeCache, build_volume

__all__ = [
    "FramePlacement", "StackGeometry", "VolumeError", "placement_of", "stack_geometry",
    "PLANE_NAMES", "SLAB_MODES", "Plane", "Reformat", "reslice", "standard_plane",
    "Volume", "VolumeCache", "build_volume",
]

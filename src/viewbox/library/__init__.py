"""The study library: import, storage, deletion, albums and element structs (the one write path)."""

from .elements import element
from .importer import Importer, ImportReport, ZipLimits, safe_unzip
from .instance import Instance, NotDicom, read_instance
from .store import Library, StoreOutcome

__all__ = ["element", "Importer", "ImportReport", "ZipLimits", "safe_unzip", "Instance", "NotDicom",
           "read_instance", "Library", "StoreOutcome"]

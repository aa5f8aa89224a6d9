"""pydicom, set up the one way the workstation reads files: leniently, because real files break
the value rules all the time and are stored and shown anyway.

Imported on first use by the importer: pydicom with its pixel plugins takes a third of a second
to import, which `viewbox import` (whose fast header walk seldom needs it) should not pay.
"""

from __future__ import annotations


def lenient_pydicom():
    """The pydicom module, with value validation off for reading."""
    import pydicom
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    return pydicom

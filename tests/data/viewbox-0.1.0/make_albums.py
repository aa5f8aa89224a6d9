"""Run with the 0.1.0 code on PYTHONPATH: albums through its own Library API."""
import sys
from pathlib import Path

from sqlalchemy import insert, select

from viewbox.app import Workstation
from viewbox.config import Settings
from viewbox.db import schema

ws = Workstation(Settings(data_root=Path(sys.argv[1]), database_url=(sys.argv[2] if len(sys.argv) > 2 else None)))
lib = ws.library
with ws.database.read() as conn:
    studies = {row.study_instance_uid: row.pk for row in conn.execute(select(schema.study))}
lib.create_album("Teaching")
lib.add_to_album("Teaching", [studies["1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"],
                              studies["0.0.0.0.2.8811.20010413115754.12432"]])
lib.create_album("Empty album")
# 0.1.0 creates smart albums only as its defaults (create_default_albums); this one is written the
# same way, with the released schema's own with_folds.
with ws.database.begin() as conn:
    conn.execute(insert(schema.album).values(schema.with_folds(schema.album, {
        "name": "MR studies", "smart_album": True, "predicate_string": "modality CONTAINS[cd] 'MR'",
        "index": 19})))
ws.close()

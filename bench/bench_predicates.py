"""Benchmark: NSPredicate filters compiled to SQL on a synthetic SQLite database.

Builds databases of 10,000 and 100,000 studies (4 series per study, 5 images per series:
400,000 series and 2,000,000 images at the larger size) from `schema.metadata`, bulk-inserted
with sqlite3 `executemany` (indexes dropped during the load and rebuilt after), then times each
query end to end — parse, compile, execute, fetch all rows — and prints p50/p99 per size and
how p50 grows from the small database to the large one.

Run: `python bench/bench_predicates.py` (about a minute to build; `--studies 10000 100000`,
`--keep DIR` to reuse the files between runs).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, select, text

from viewbox.db import schema
from viewbox.predicates import compile_filter

SERIES_PER_STUDY = 4
IMAGES_PER_SERIES = 5
LAST_NAMES = ["MÜLLER", "Müller", "MULLER", "MUELLER", "SMITH", "DOE", "GARCÍA", "O'BRIEN", "NGUYEN",
              "DUPONT", "ROSSI", "KOWALSKI", "JOHANSSON", "DUBOIS", "SCHMIDT", "SCHNEIDER", "FISCHER",
              "WEBER", "MEYER", "WAGNER", "BECKER", "SCHULZ", "HOFFMANN", "KOCH", "RICHTER"]
FIRST_NAMES = ["JOHN", "JOSÉ", "ANNA", "LÉA", "PIOTR", "MARIA", "KARL", "EVA", "LUCA", "NOÉMIE"]
MODALITIES = ["CT", "MR", "US", "CR", "SR", "PT"]
DESCRIPTIONS = ["KNEE LEFT", "Brain MR", "CHEST", "ABDOMEN", "Knee right", "SPINE", "HEAD"]
EPOCH = datetime(2015, 1, 1)


def _folded(value):
    return [value] + [schema.fold(value, c, d) for c, d in schema.FOLDS.values()]


def build(path: Path, studies: int, seed: int = 7) -> None:
    """Create the tables from schema.metadata, then bulk-load rows with sqlite3."""
    rng = random.Random(seed)
    engine = create_engine(f"sqlite:///{path}")
    schema.metadata.create_all(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    indexes = [(name, sql) for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")]
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')

    study_rows = []
    for pk in range(1, studies + 1):
        name = f"{rng.choice(LAST_NAMES)}^{rng.choice(FIRST_NAMES)}"
        date = EPOCH + timedelta(seconds=rng.randrange(10 * 365 * 86400))
        study_rows.append((
            pk, *_folded(name), *_folded(f"P{pk:07d}"), f"1.2.826.0.1.3680043.1.{pk}",
            *_folded(rng.choice(DESCRIPTIONS)), date.isoformat(" "), date.isoformat(" "),
            *_folded("\\".join(sorted(rng.sample(MODALITIES, 2)))), SERIES_PER_STUDY * IMAGES_PER_SERIES, 0,
        ))
    study_cols = ["pk", *_shadow("patient_name"), *_shadow("patient_id"), "study_instance_uid",
                  *_shadow("study_description"), "date", "date_added", *_shadow("modality"),
                  "number_of_images", "state_text"]
    _insert(conn, "study", study_cols, study_rows)

    series_cols = ["pk", "study_pk", "series_instance_uid", *_shadow("series_description"),
                   "series_number", *_shadow("modality"), "number_of_images"]
    image_cols = ["pk", "series_pk", "sop_instance_uid", "instance_number", "rel_path"]
    series_pk = image_pk = 0
    series_rows, image_rows = [], []
    for study_pk in range(1, studies + 1):
        for number in range(1, SERIES_PER_STUDY + 1):
            series_pk += 1
            series_rows.append((
                series_pk, study_pk, f"1.2.826.0.1.3680043.2.{series_pk}",
                *_folded(rng.choice(["AXIAL", "SAG T1", "COR", "SCOUT"])), number,
                *_folded(rng.choice(MODALITIES)), IMAGES_PER_SERIES,
            ))
            for instance in range(1, IMAGES_PER_SERIES + 1):
                image_pk += 1
                image_rows.append((image_pk, series_pk, f"1.2.826.0.1.3680043.3.{image_pk}", instance, f"d/{image_pk}.dcm"))
        if len(image_rows) >= 200_000:
            _insert(conn, "series", series_cols, series_rows)
            _insert(conn, "image", image_cols, image_rows)
            series_rows, image_rows = [], []
    _insert(conn, "series", series_cols, series_rows)
    _insert(conn, "image", image_cols, image_rows)
    conn.commit()
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


def _shadow(column: str) -> list[str]:
    return [column, *(f"{column}__{s}" for s in schema.FOLDS)]


def _insert(conn, table: str, columns: list[str], rows: list[tuple]) -> None:
    if rows:
        marks = ", ".join("?" * len(columns))
        names = ", ".join(f'"{c}"' for c in columns)
        conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def queries(studies: int, rng: random.Random) -> dict[str, tuple[str, callable]]:
    """Name → (table, function giving a fresh predicate string per repetition)."""
    images = studies * SERIES_PER_STUDY * IMAGES_PER_SERIES
    return {
        "patientID == (indexed)": ("Study", lambda: f"patientID == 'P{rng.randrange(1, studies + 1):07d}'"),
        "studyInstanceUID == (indexed)": ("Study", lambda: f"studyInstanceUID == '1.2.826.0.1.3680043.1.{rng.randrange(1, studies + 1)}'"),
        "name CONTAINS[cd] 'müller'": ("Study", lambda: "name CONTAINS[cd] 'müller'"),
        # a name as a reply shows it (`^` as a space): expression indexes on the OsiriX form
        "name == 'SCHMIDT EVA' (as shown)": ("Study", lambda: f'name == "{rng.choice(LAST_NAMES)} {rng.choice(FIRST_NAMES)}"'),
        "name ==[cd] 'schmidt eva'": ("Study", lambda: f'name ==[cd] "{rng.choice(LAST_NAMES).lower()} eva"'),
        "name == 'SCHMIDT^EVA' (DICOM form)": ("Study", lambda: f'name == "{rng.choice(LAST_NAMES)}^{rng.choice(FIRST_NAMES)}"'),
        "ANY series.modality == 'MR'": ("Study", lambda: "ANY series.modality == 'MR'"),
        "date range (one month)": ("Study", lambda: _month_range(rng)),
        "Image sopInstanceUID ==": ("Image", lambda: f"sopInstanceUID == '1.2.826.0.1.3680043.3.{rng.randrange(1, images + 1)}'"),
    }


def _month_range(rng: random.Random) -> str:
    start = EPOCH + timedelta(days=30 * rng.randrange(110))
    end = start + timedelta(days=30)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return f"date BETWEEN {{CAST('{start.strftime(iso)}', 'NSDate'), CAST('{end.strftime(iso)}', 'NSDate')}}"


def measure(path: Path, studies: int, repeat: int) -> dict[str, tuple[float, float, float]]:
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _):
        dbapi_conn.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache, as a server would set

    rng = random.Random(11)
    results = {}
    with engine.connect() as conn:
        conn.execute(text("SELECT count(*) FROM image")).scalar()  # warm the file cache
        for name, (table, make) in queries(studies, rng).items():
            times, rows = [], 0
            reps = repeat if "==" in name and "ANY" not in name else max(5, repeat // 5)
            for i in range(reps + 2):
                predicate = make()
                start = time.perf_counter()
                expr = compile_filter(predicate, table)
                found = conn.execute(select(schema.TABLES[table].c.pk).where(expr)).all()
                elapsed = time.perf_counter() - start
                if i >= 2:  # two warm-up runs
                    times.append(elapsed * 1000)
                    rows += len(found)
            times.sort()
            p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
            results[name] = (statistics.median(times), p99, rows / len(times))
    engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the database files in")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="viewbox-bench-predicates-"))
    folder.mkdir(parents=True, exist_ok=True)
    all_results = {}
    for studies in args.studies:
        path = folder / f"studies-{studies}.sqlite"
        if not path.exists():
            start = time.perf_counter()
            build(path, studies)
            print(f"built {studies:,} studies / {studies * SERIES_PER_STUDY:,} series / "
                  f"{studies * SERIES_PER_STUDY * IMAGES_PER_SERIES:,} images in {time.perf_counter() - start:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
        all_results[studies] = measure(path, studies, args.repeat)
    print()
    header = f"{'query':32}" + "".join(f"{f'{n:,} p50':>14}{'p99':>9}{'rows':>9}" for n in args.studies)
    if len(args.studies) > 1:
        header += f"{'growth':>9}"
    print(header)
    for name in all_results[args.studies[0]]:
        line = f"{name:32}"
        for studies in args.studies:
            p50, p99, rows = all_results[studies][name]
            line += f"{p50:>11.2f} ms{p99:>7.2f}{rows:>9.0f}"
        if len(args.studies) > 1:
            first, last = all_results[args.studies[0]][name][0], all_results[args.studies[-1]][name][0]
            line += f"{last / first:>8.1f}x"
        print(line)
    print("\n(times are parse + compile + execute + fetch all rows, in ms; growth = p50 ratio)")
    if not args.keep:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()

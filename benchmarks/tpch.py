"""``govgrid bench tpch``: the 22 TPC-H queries on govgrid's SQL, DuckDB and Polars.

The data comes from ``tpchgen-cli`` (beside this interpreter, or on PATH) and is registered in
a real catalog (owner ``tpc``, sharing ``unconditional``); govgrid reads it through a
:class:`compute.tables.Snapshot`. tpchgen writes strings as ``string_view``, which pyarrow
cannot yet filter on (a pushed-down ``n_name = 'FRANCE'`` fails), so :func:`prepare` rewrites
them as ``string``; the larger tables are split into files so that scans have partitions.

Each query runs first on the reference (DuckDB); every other engine's first run is its
warm-up and is checked equal to the reference's result before it is timed. A mismatch or an
error (Polars' SQL lacks correlated subqueries) is recorded, not timed. One JSON line per
engine and query (kind ``tpch``), and :func:`report_section` gives the Markdown section.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.compare import compare_frames
from benchmarks.runner import (
    append_records,
    format_seconds,
    make_record,
    measure,
    parameter_table,
)

QUERIES = Path(__file__).parents[1] / "examples" / "sql" / "tpch"
TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")
ENGINES = ("duckdb", "govgrid", "polars")
REFERENCE = "duckdb"
ROWS_PER_FILE = 1_000_000
DEFAULT_CACHE = Path("bench-data")


def tpchgen() -> str:
    """The tpchgen-cli executable: beside this interpreter, else on PATH."""
    beside = Path(sys.executable).with_name("tpchgen-cli")
    found = str(beside) if beside.exists() else shutil.which("tpchgen-cli")
    if not found:
        raise FileNotFoundError("tpchgen-cli not found; pip install tpchgen-cli")
    return found


def prepare(root: str | os.PathLike[str], scale_factor: float, files: int | None = None):
    """TPC-H at ``scale_factor`` under ``root``, registered in a catalog there; returns it.

    Strings are rewritten from ``string_view`` to ``string``; a table gets ``files`` files
    (default: one per million rows, at least two for tables over a thousand rows). An existing
    catalog holding every table is reused.
    """
    from compute.tables import Catalog

    root = Path(root)
    if (root / "catalog.db").exists():
        catalog = Catalog.load(root)
        if set(TABLES) <= set(catalog.tables):
            return catalog
        shutil.rmtree(root)
    raw = root / "_raw"
    raw.mkdir(parents=True, exist_ok=True)
    subprocess.run([tpchgen(), "parquet", "-s", f"{scale_factor:g}", f"--output-dir={raw}"],
                   check=True, capture_output=True)
    catalog = Catalog.create(root)
    for name in TABLES:
        table = pq.read_table(raw / f"{name}.parquet")
        table = table.cast(pa.schema([
            pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) else f.type)
            for f in table.schema]))
        parts = files or max(2 if table.num_rows > 1000 else 1,
                             -(-table.num_rows // ROWS_PER_FILE))
        directory = root / name
        directory.mkdir()
        step = max(1, -(-table.num_rows // parts))
        for i in range(parts):
            pq.write_table(table.slice(i * step, step), directory / f"part-{i}.parquet")
        catalog.add(name, directory, owner="tpc", sharing="unconditional")
    shutil.rmtree(raw)
    return catalog


def query_text(number: int) -> str:
    return (QUERIES / f"q{number:02d}.sql").read_text(encoding="utf-8")


def table_files(catalog, table: str) -> list[str]:
    return [str(file.path) for file in catalog.version(table).files]


class DuckDB:
    name = "duckdb"

    def __init__(self, catalog, threads: int) -> None:
        import duckdb

        self.con = duckdb.connect(config={"threads": threads})
        self.threads = threads
        for table in TABLES:
            files = ", ".join(f"'{f}'" for f in table_files(catalog, table))
            self.con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_parquet([{files}])')

    def run(self, text: str) -> pd.DataFrame:
        return self.con.execute(text).df()


class Polars:
    name = "polars"

    def __init__(self, catalog, threads: int) -> None:
        # polars sizes its pool once, from POLARS_MAX_THREADS when it is first imported: a
        # process that imported it already keeps its pool, whose size the records then give.
        if "polars" not in sys.modules:
            os.environ["POLARS_MAX_THREADS"] = str(threads)
        import polars as pl

        self.threads = pl.thread_pool_size()
        self.context = pl.SQLContext({table: pl.scan_parquet(table_files(catalog, table))
                                      for table in TABLES})

    def run(self, text: str) -> pd.DataFrame:
        import polars as pl

        result = self.context.execute(text.strip().rstrip(";")).collect()
        # TPC-H's money columns are DECIMAL: compared as floats, as DuckDB's come back
        return result.with_columns(pl.col(pl.Decimal).cast(pl.Float64)).to_pandas()


class Govgrid:
    name = "govgrid"

    def __init__(self, session) -> None:
        self.session = session
        self.last: dict[str, Any] = {}

    def run(self, text: str) -> pd.DataFrame:
        result = self.session.run(self.session.sql_job(text), show_progress=False)
        self.last = {"timings": result.timings, "task_seconds": result.task_seconds,
                     "plan": result.plan}
        return result["result"]


def same_result(got: pd.DataFrame, want: pd.DataFrame) -> str | None:
    """None when equal (column names as the reference's, rows in any order), else why."""
    if len(got.columns) != len(want.columns):
        return f"{len(got.columns)} columns instead of {len(want.columns)}"
    got = got.set_axis(list(want.columns), axis=1)
    difference = compare_frames("result", got, want)
    return None if difference is None else str(difference)


def run_tpch(
    scale_factor: float,
    queries: Sequence[int] = tuple(range(1, 23)),
    engines: Sequence[str] = ENGINES,
    repeat: int = 3,
    workers: int = 2,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    backend: str = "auto",
    results: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] = DEFAULT_CACHE,
) -> list[dict[str, Any]]:
    """Run ``queries`` on ``engines``; return (and append to ``results``) one record each."""
    import cluster
    from compute.session import Session

    data = Path(cache) / f"tpch-sf{scale_factor:g}"
    catalog = prepare(data, scale_factor)
    threads = workers * threads_per_worker
    ordered = sorted(engines, key=lambda e: e != REFERENCE)
    print(parameter_table({
        "benchmark": "tpch", "data": data.resolve(), "scale factor": scale_factor,
        "lineitem rows": f"{catalog.table('lineitem').rows:,}", "engines": ", ".join(ordered),
        "reference": ordered[0], "queries": len(queries), "repeat": repeat,
        "workers": workers, "threads per worker": threads_per_worker,
        "scheduler": scheduler or "local", "backend": backend,
    }, "govgrid bench tpch"), flush=True)
    expected: dict[int, pd.DataFrame] = {}
    records: list[dict[str, Any]] = []
    for name in ordered:
        if name == "govgrid":
            handle = (cluster.connect(scheduler, backend=backend) if scheduler else
                      cluster.start(backend=backend, n_workers=workers,
                                    threads_per_worker=threads_per_worker,
                                    dashboard_address=":0"))
            with handle:
                engine = Govgrid(Session(catalog, handle))
                fields = {"backend": handle.backend}
                records += _run_engine(engine, queries, repeat, expected, ordered[0],
                                       scale_factor, workers, threads_per_worker, fields,
                                       results)
        else:
            engine = DuckDB(catalog, threads) if name == "duckdb" else Polars(catalog, threads)
            records += _run_engine(engine, queries, repeat, expected, ordered[0],
                                   scale_factor, 1, engine.threads, {"backend": "cpu"},
                                   results)
    print(times_table(records))
    return records


def _run_engine(engine, queries: Sequence[int], repeat: int, expected: dict[int, pd.DataFrame],
                reference: str, scale_factor: float, workers: int, threads: int,
                extra: Mapping[str, Any], results) -> list[dict[str, Any]]:
    records = []
    for number in queries:
        text = query_text(number)
        fields = dict(engine=engine.name, query=f"q{number:02d}", scale_factor=scale_factor,
                      workers=workers, threads=threads, repeat=repeat, **extra)
        record = _run_query(engine, number, text, repeat, expected, reference, fields)
        append_records(results, [record])
        records.append(record)
    return records


def _run_query(engine, number: int, text: str, repeat: int, expected: dict[int, pd.DataFrame],
               reference: str, fields: dict[str, Any]) -> dict[str, Any]:
    label = f"{engine.name:8} q{number:02d}"
    try:
        got = engine.run(text)  # the warm-up, and what is checked
    except Exception as exc:  # an engine's failure is a result, not a crash
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        print(f"{label} ERROR {type(exc).__name__}: {first}", flush=True)
        return make_record("tpch", status="error", detail=f"{type(exc).__name__}: {first}",
                           **fields)
    if engine.name == reference:
        expected[number] = got
    elif number not in expected:
        print(f"{label} UNCHECKED: the reference failed", flush=True)
        return make_record("tpch", status="unchecked", detail="reference failed", **fields)
    else:
        difference = same_result(got, expected[number])
        if difference:
            print(f"{label} MISMATCH with {reference}, not timed: {difference}", flush=True)
            return make_record("tpch", status="mismatch", detail=difference, **fields)
    timing = measure(lambda: engine.run(text), repeat, warmup=False)
    print(f"{label} median {format_seconds(timing.median)}  rows {len(got):,}", flush=True)
    return make_record("tpch", timing, status="ok", rows=len(got), **fields,
                       **getattr(engine, "last", {}))


def times_table(records: Sequence[Mapping[str, Any]]) -> str:
    """Median seconds per query (rows) and engine (columns), govgrid / DuckDB, and totals
    over the queries every engine ran; the status where one was not timed."""
    engines = list(dict.fromkeys(r["engine"] for r in records))
    queries = list(dict.fromkeys(r["query"] for r in records))
    by = {(r["engine"], r["query"]): r for r in records}
    ratio = "govgrid" in engines and REFERENCE in engines
    head = ["query", *engines] + (["govgrid / duckdb"] if ratio else [])
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]

    def median(engine: str, query: str) -> float | None:
        record = by.get((engine, query))
        return record.get("median") if record else None

    for query in queries:
        cells = []
        for engine in engines:
            value, record = median(engine, query), by.get((engine, query), {})
            cells.append(f"{value:.3f} s" if value is not None else record.get("status", "-"))
        if ratio:
            g, d = median("govgrid", query), median(REFERENCE, query)
            cells.append(f"{g / d:.1f}×" if g and d else "-")
        lines.append(f"| {query} | " + " | ".join(cells) + " |")
    common = [q for q in queries if all(median(e, q) is not None for e in engines)]
    totals = [f"{sum(median(e, q) for q in common):.2f} s" for e in engines]
    if ratio:
        g = sum(median("govgrid", q) for q in common)
        d = sum(median(REFERENCE, q) for q in common)
        totals.append(f"{g / d:.1f}×" if d else "-")
    lines.append(f"| **total ({len(common)} queries all ran)** | " + " | ".join(totals) + " |")
    return "\n".join(lines)


_ENGINE_NAMES = {"duckdb": "DuckDB", "polars": "Polars"}


def report_section(records: Sequence[Mapping[str, Any]]) -> str:
    """The Markdown section of the latest TPC-H run in ``records`` ('' when none)."""
    tpch = [r for r in records if r.get("kind") == "tpch"]
    if not tpch:
        return ""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for record in tpch:
        latest[(record["engine"], record["query"])] = record
    rows = list(latest.values())
    sf = rows[-1]["scale_factor"]
    govgrid = next((r for r in rows if r["engine"] == "govgrid"), {})
    threads = {r["engine"]: r["threads"] for r in rows if r["engine"] != "govgrid"}
    lines = [f"## TPC-H (scale factor {sf:g})", "",
             "Median wall time of each query; results checked equal to DuckDB's before "
             f"timing. govgrid on {govgrid.get('workers', '?')} worker(s) of "
             f"{govgrid.get('threads', '?')} thread(s) ({govgrid.get('backend', '?')})"
             + "".join(f"; {_ENGINE_NAMES.get(e, e)} with {n} thread(s)"
                       for e, n in threads.items()) + ".", "",
             times_table(rows), ""]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"- {r['engine']} {r['query']}: {r['status']}: {r.get('detail', '')}")
    busiest = [(r["query"], list(r.get("task_seconds", {}).items())[:3])
               for r in rows if r["engine"] == "govgrid" and r.get("task_seconds")]
    if busiest:
        lines += ["", "govgrid's busiest task groups per query (worker seconds): ", ""]
        lines += [f"- {q}: " + ", ".join(f"{g} {s:.2f}" for g, s in groups)
                  for q, groups in busiest]
    return "\n".join(lines) + "\n"


def write_section(results: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """``out`` (a Markdown file) holding :func:`report_section` of the records in ``results``."""
    from benchmarks.runner import read_records

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_section(read_records(results)), encoding="utf-8")
    return path

"""The catalog at hub scale: many entries, and how fast lookups stay.

    python -m benchmarks.catalog_scale --tables 100000 [--data DIR] [--repeat 5]

Registers ``--tables`` small tables over one shared tiny Delta table (in batches, each one
transaction) beside a generated scale-0.002 hub, then times what an analyst and a job do:
``catalog show NAME`` (one table's entry), ``catalog search TEXT``, and a job's catalog lookups
(verify's and eligibility's inputs: authorities, the tables holding an element, the Delta log
statistics of the tables read). Prints medians of ``--repeat`` runs; the target is 0.2 s each.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from compute.generate import generate
from compute.jobs import JOBS
from compute.tables import Catalog, Snapshot
from compute.tables.catalog import Registration

BATCH = 5_000


def fill(catalog: Catalog, tables: int) -> float:
    """Register ``tables`` entries over one shared file; returns seconds per entry."""
    shared = catalog.root / "shared"
    shared.mkdir()
    pq.write_table(pa.table({
        "证件号码": ["11010519491231002X"], "amount": [1.0], "note": ["x"],
    }), shared / "part-0.parquet")
    started = time.perf_counter()
    for first in range(0, tables, BATCH):
        catalog.add_many([
            Registration(
                f"dept{i % 97}_table_{i}", "shared", owner=f"department {i % 97}",
                sharing=("unconditional", "conditional", "not_shared")[i % 3],
                # Every other table holds resident IDs, as most of a hub's tables do.
                elements={"证件号码": "resident_id"} if i % 2 else {},
                description=f"table {i} of department {i % 97}",
            )
            for i in range(first, min(first + BATCH, tables))
        ])
    return (time.perf_counter() - started) / max(tables, 1)


def timed(action: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def lookups(catalog: Catalog) -> None:
    """What building verify and eligibility asks of the catalog before any cluster work."""
    for job in ("verify", "eligibility"):
        spec = JOBS[job]
        spec.inputs(Snapshot(catalog), spec.params())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data", type=Path, help="where to build it (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data or Path(scratch) / "hub"
        catalog = generate(root, scale=0.002, seed=0)
        per_entry = fill(catalog, args.tables)
        middle = args.tables // 2
        name = f"dept{middle % 97}_table_{middle}"
        results = {
            "catalog show": timed(lambda: catalog.render_table(name), args.repeat),
            "catalog search": timed(lambda: catalog.search("department 42"), args.repeat),
            "job lookups": timed(lambda: lookups(catalog), args.repeat),
        }
        print(f"{len(catalog):,} tables registered, {per_entry * 1e3:.3f} ms per entry "
              f"(batches of {BATCH:,})")
        for what, seconds in results.items():
            verdict = "ok" if seconds < 0.2 else "OVER 0.2 s"
            print(f"{what:<15} {seconds * 1e3:8.1f} ms   {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

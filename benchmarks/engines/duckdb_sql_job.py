"""One job on DuckDB as a process of its own: ``python -m benchmarks.engines.duckdb_sql_job JOB
DIR --out OUT``.

What ``govgrid bench cli`` times beside a ``govgrid run JOB`` process: start the interpreter,
open the data, compute the job with the benchmarks' DuckDB engine, write its outputs as
``govgrid run`` writes them (``OUT/<output>/part-0.parquet``), exit.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from benchmarks.engines.duckdb_sql import DuckDBEngine
from compute.jobs import JOBS
from compute.results import write_outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engines.duckdb_sql_job",
                                     description=__doc__)
    parser.add_argument("job", choices=tuple(JOBS))
    parser.add_argument("data", metavar="DIR", help="data directory")
    parser.add_argument("--out", required=True, metavar="OUT", help="replaced if it exists")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="DuckDB threads (default: every core)")
    args = parser.parse_args(argv)
    with DuckDBEngine(args.data, 1, args.threads) as engine:
        outputs = engine.run(args.job, JOBS[args.job].params())
    write_outputs(outputs, args.out, overwrite=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

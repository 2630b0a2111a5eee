"""``govgrid sql "QUERY" --data DIR [--out OUT] [--as-of T] [--explain]``: SQL over the catalog.

The query is planned against the catalog (one snapshot) before any cluster starts: invalid or
unsupported SQL is refused there with the planner's one-line error (exit 2). ``EXPLAIN QUERY``
or ``--explain`` prints the plan (steps, join strategies, partitions) and computes nothing.
Otherwise the first rows and the row count are printed, or, with ``--out``, the result is
written as Parquet (``OUT/result/`` and ``OUT/_job.json``, all or nothing).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from compute.cli import add_cluster_arguments, cluster_from_args, positive_int
from compute.exceptions import ParameterError

EXPLAIN = re.compile(r"^\s*EXPLAIN\s+", re.IGNORECASE)
DEFAULT_ROWS = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sql", help="run a SQL query over the catalog's tables",
        description="Run SQL over the tables of a data directory: print the first rows and "
        "the row count, or write the result as Parquet with --out. 'EXPLAIN QUERY' (or "
        "--explain) shows the plan without computing.")
    parser.add_argument("query", metavar="QUERY",
                        help="one SQL statement ('-' reads it from standard input, '@FILE' "
                        "from FILE)")
    parser.add_argument("--data", required=True, metavar="DIR", help="data directory")
    parser.add_argument("--out", metavar="OUT",
                        help="write the result to OUT/result/ and OUT/_job.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--as-of", metavar="TIME",
                        help="read every table as it was then (ISO time; default: latest)")
    parser.add_argument("--explain", action="store_true",
                        help="show the plan (as EXPLAIN QUERY does); compute nothing")
    parser.add_argument("--rows", type=positive_int, default=DEFAULT_ROWS, metavar="N",
                        help=f"rows to print (default {DEFAULT_ROWS})")
    add_cluster_arguments(parser)
    parser.set_defaults(run=run)


def query_text(argument: str) -> str:
    """The query given on the command line, on standard input (``-``) or in a file (``@F``)."""
    if argument == "-":
        return sys.stdin.read()
    if argument.startswith("@"):
        path = Path(argument[1:])
        if not path.is_file():
            raise ParameterError(f"query file {str(path)!r} not found")
        return path.read_text(encoding="utf-8")
    return argument


def split_explain(text: str) -> tuple[str, bool]:
    """The query without a leading ``EXPLAIN``, and whether there was one."""
    stripped = EXPLAIN.sub("", text, count=1)
    return stripped, stripped != text


def run(args: argparse.Namespace) -> int:
    from compute.session import Session
    from compute.sql import plan
    from compute.tables import Catalog, Snapshot

    text, explain = split_explain(query_text(args.query))
    explain = explain or args.explain
    catalog = Catalog.load(args.data)
    # Planned once here, before any cluster starts: unsupported SQL exits 2 at once.
    planned = plan(Snapshot(catalog, args.as_of), text)
    if explain:
        print(planned.explain())
        return 0
    if args.out and Path(args.out).exists() and not args.overwrite:
        raise ParameterError(f"output directory {args.out!r} exists; pass --overwrite")
    with cluster_from_args(args) as handle:
        session = Session(catalog, handle, as_of=args.as_of)
        result = session.run_sql(text, show_progress=args.out is not None)
    frame = result["result"]
    if args.out:
        result.write(args.out, overwrite=args.overwrite)
        print(result.summary())
        print(f"wrote result ({len(frame):,} rows) to {args.out}")
        return 0
    print(format_rows(frame, args.rows))
    return 0


def format_rows(frame, limit: int) -> str:
    """The first ``limit`` rows as a table, then the row count."""
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200,
                           "display.max_colwidth", 60):
        shown = frame.head(limit).to_string(index=False) if len(frame.columns) else ""
    more = f" (first {limit} shown)" if len(frame) > limit else ""
    return f"{shown}\n({len(frame):,} row{'s' if len(frame) != 1 else ''}){more}"

"""``govgrid demo``: start a local cluster and run a join plus a group-by on random data."""

from __future__ import annotations

import argparse
import time

import dask.dataframe as dd
import numpy as np
import pandas as pd

from compute.cli import add_cluster_arguments, cluster_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run a small example on a local cluster")
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the fact table")
    add_cluster_arguments(parser)
    parser.set_defaults(run=run)


def random_tables(rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fact table of payments keyed by person, and a dimension of persons by province."""
    rng = np.random.default_rng(seed)
    people = max(rows // 10, 1)
    payments = pd.DataFrame({
        "person": rng.integers(0, people, rows),
        "amount": rng.gamma(2.0, 500.0, rows).round(2),
    })
    persons = pd.DataFrame({
        "person": np.arange(people),
        "province": rng.choice([11, 31, 44, 51, 65], people).astype("int32") * 10000,
    })
    return payments, persons


def join_and_group(payments: dd.DataFrame, persons: dd.DataFrame) -> dd.DataFrame:
    joined = payments.merge(persons, on="person", how="inner")
    return joined.groupby("province").agg(payments=("amount", "count"), amount=("amount", "sum"))


def run(args: argparse.Namespace) -> int:
    payments, persons = random_tables(args.rows)
    with cluster_from_args(args) as handle:
        print(handle.info().render(), "\n")
        start = time.perf_counter()
        result = join_and_group(
            dd.from_pandas(payments, npartitions=8), dd.from_pandas(persons, npartitions=2)
        ).compute()
        elapsed = time.perf_counter() - start
    print(result.sort_index().to_string())
    print(f"\njoin + group-by of {args.rows:,} rows in {elapsed:.2f} s")
    return 0

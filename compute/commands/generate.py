"""``govgrid generate``: write the synthetic tables of the data contract."""

from __future__ import annotations

import argparse
import time
from dataclasses import fields
from pathlib import Path

from compute.cli import add_cluster_arguments, cluster_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="write every table of the data contract as synthetic Parquet data",
        populate=_arguments,
    )
    parser.set_defaults(run=run)


def _arguments(parser: argparse.ArgumentParser) -> None:
    # The generator's defaults and defect rates are its own: read them only when asked.
    from compute.generate import DEFAULT_CHUNK_SIZE, DefectRates

    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="directory to create (one sub-directory per table)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1 = 1,000,000 residents (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="N",
                        help=f"residents per chunk (default {DEFAULT_CHUNK_SIZE:,})")
    rates = parser.add_argument_group("defect rates (share of records)")
    for field in fields(DefectRates):
        rates.add_argument(f"--{field.name.replace('_', '-')}-rate", dest=field.name,
                           type=float, default=field.default, metavar="R",
                           help=f"default {field.default}")
    add_cluster_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from compute.generate import DefectRates, generate

    rates = DefectRates(**{field.name: getattr(args, field.name) for field in fields(DefectRates)})
    with cluster_from_args(args) as handle:
        print(f"generating scale {args.scale} (seed {args.seed}) into {args.out} on "
              f"{handle.backend} workers; dashboard: {handle.dashboard_link}")
        start = time.perf_counter()
        catalog = generate(
            args.out, scale=args.scale, seed=args.seed, rates=rates, client=handle.client,
            chunk_size=args.chunk_size, overwrite=args.overwrite, progress=True,
        )
        elapsed = time.perf_counter() - start
    rows = sum(entry.rows for entry in catalog.tables.values())
    print(f"wrote {len(catalog.tables)} tables, {rows:,} rows, in {elapsed:.1f} s: {args.out}")
    return 0

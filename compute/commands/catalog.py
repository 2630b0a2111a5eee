"""``govgrid catalog``: show the catalog of a data directory."""

from __future__ import annotations

import argparse

from compute.tables import Catalog, check_files, contract_table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "catalog", help="list a data directory's tables: owner, sharing, rows, size, columns"
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="directory with catalog.yaml")
    parser.add_argument("--check", action="store_true",
                        help="also check every file's schema against the data contract")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    catalog = Catalog.load(args.data)
    print(catalog.render())
    if args.check:
        for entry in catalog.tables.values():
            check_files(contract_table(entry.name), entry)
        print(f"\nall {len(catalog.tables)} tables match the data contract")
    return 0

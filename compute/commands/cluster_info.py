"""``govgrid cluster info``: what the cluster holds."""

from __future__ import annotations

import argparse

from compute.cli import add_cluster_arguments, cluster_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="inspect a cluster")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser(
        "info", help="backend, workers, threads, memory and GPUs per worker, dashboard link"
    )
    add_cluster_arguments(info)
    info.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    with cluster_from_args(args) as handle:
        print(handle.info().render())
    return 0

"""The ``govgrid`` command line.

Each command lives in its own module and registers itself through ``register(subparsers)``.
Commands of packages that ``compute`` must not import (benchmarks) are found through the
``govgrid.commands`` entry-point group, so dependencies keep pointing one way.

Registering must stay cheap, so that ``govgrid --help`` answers at once: a command module
imports Dask, pandas, pyarrow or numba only inside its run function, and options whose
declaration needs such an import (a job's parameter class) are declared by a ``populate``
function that :class:`CommandParser` calls when that command is parsed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from compute.exceptions import GovgridError

if TYPE_CHECKING:
    import cluster

COMMAND_MODULES = (
    "compute.commands.cluster_info",
    "compute.commands.demo",
    "compute.commands.run",
    "compute.commands.generate",
    "compute.commands.catalog",
    "compute.commands.doctor",
    "compute.commands.sql",
)
INSTALL_HINT = "install the optional dependencies with: pip install 'govgrid[bench]'"


class CommandParser(argparse.ArgumentParser):
    """An argument parser that can declare some of its arguments only when it is used.

    ``populate(parser)``, when given, runs once, before this parser first parses (printing
    its ``--help`` included): there a command declares the options that need a heavy import,
    which ``govgrid --help`` and every other command then never pay for.
    """

    def __init__(
        self, *args: Any, populate: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._populate is not None:
            populate, self._populate = self._populate, None
            try:
                populate(self)
            except ModuleNotFoundError as exc:
                self.error(f"{exc}; {INSTALL_HINT}")
        return super().parse_known_args(args, namespace)


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every computing command takes: join a cluster or start a local one."""
    group = parser.add_argument_group("cluster")
    group.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="join this scheduler (tcp://HOST:PORT, tls://..., or a scheduler file)",
    )
    group.add_argument(
        "--backend", choices=("auto", "cpu", "gpu"), default=None,
        help="backend of a local cluster (default: govgrid.cluster.backend, 'auto')",
    )
    group.add_argument(
        "--workers", type=positive_int, default=None, metavar="N",
        help="worker processes of a local cluster (default: one per core or GPU)",
    )


@contextmanager
def cluster_from_args(args: argparse.Namespace) -> Iterator[cluster.Cluster]:
    """Join ``--scheduler`` or start a local cluster from ``--backend`` / ``--workers``."""
    import cluster

    if args.scheduler:
        handle = cluster.connect(args.scheduler, backend=args.backend or "auto")
    else:
        handle = cluster.start(backend=args.backend, n_workers=args.workers)
    with handle:
        yield handle


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="govgrid", description="Joins and aggregations for government data hubs."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        import_module(name).register(subparsers)
    for entry in entry_points(group="govgrid.commands"):
        try:
            register = entry.load()
        except ImportError as exc:  # a command whose optional extra is not installed
            _register_missing(subparsers, entry.name, exc)
        else:
            register(subparsers)
    return parser


def _register_missing(subparsers: argparse._SubParsersAction, name: str, exc: ImportError) -> None:
    """A stand-in command that says which extra to install, so other commands keep working."""
    message = (f"`govgrid {name}` needs an optional dependency that is not installed "
               f"({exc}); {INSTALL_HINT}")

    def run(args: argparse.Namespace) -> int:
        raise GovgridError(message)

    parser = subparsers.add_parser(name, help="(not installed: pip install 'govgrid[bench]')")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(run=run)


def _reported_errors() -> tuple[type[Exception], ...]:
    """The errors ``main`` reports in one line. Imported only once something failed (a
    ClusterError's module is then loaded already), so that parsing stays cheap."""
    from cluster.exceptions import ClusterError

    return GovgridError, ClusterError, ValueError


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except BrokenPipeError:  # output piped into `head` and the like
        return 0
    except ModuleNotFoundError as exc:  # a command's optional dependency, imported when it runs
        print(f"govgrid {args.command}: error: {exc}; {INSTALL_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"govgrid {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, _reported_errors()):
            raise
        print(f"govgrid {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

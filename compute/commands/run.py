"""``govgrid run JOB --data DIR --out OUT [--param VALUE ...]``: run one job, write its outputs."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from compute.cli import add_cluster_arguments, cluster_from_args
from compute.exceptions import ParameterError
from compute.jobs import JOBS, Params
from compute.session import Session
from compute.tables import Catalog


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run a job and write its outputs as Parquet")
    jobs = parser.add_subparsers(dest="job", required=True, metavar="JOB")
    for name, spec in JOBS.items():
        job = jobs.add_parser(name, help=(spec.build.__doc__ or "").splitlines()[0])
        job.add_argument("--data", required=True, metavar="DIR", help="data directory")
        job.add_argument("--out", required=True, metavar="OUT",
                         help="output directory: OUT/<output>/ per output")
        job.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
        add_param_arguments(job, spec.params)
        add_cluster_arguments(job)
        job.set_defaults(run=run)


def add_param_arguments(parser: argparse.ArgumentParser, params: type[Params]) -> None:
    """One option per field of a job's parameter class; lists are comma-separated."""
    hints = typing.get_type_hints(params)
    group = parser.add_argument_group("job parameters")
    for field in dataclasses.fields(params):
        hint = hints[field.name]
        is_list = typing.get_origin(hint) is tuple
        default = ",".join(field.default) if is_list else field.default
        group.add_argument(
            f"--{field.name.replace('_', '-')}",
            dest=f"param_{field.name}",
            type=_list if is_list else _scalar_type(hint),
            default=None,
            metavar=field.name.upper(),
            help=params.help.get(field.name, "")
            + ("" if default is None else f" (default: {default})"),
        )


def params_from_args(params: type[Params], args: argparse.Namespace) -> Params:
    given = {
        field.name: getattr(args, f"param_{field.name}")
        for field in dataclasses.fields(params)
        if getattr(args, f"param_{field.name}") is not None
    }
    return params(**given)


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _scalar_type(hint: object) -> type:
    options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    return options[0] if options[0] in (int, float) else str


def run(args: argparse.Namespace) -> int:
    spec = JOBS[args.job]
    # Everything that can be wrong with the request is found before a cluster starts.
    params = params_from_args(spec.params, args)
    catalog = Catalog.load(args.data)
    params.check_data(catalog)
    if Path(args.out).exists() and not args.overwrite:
        raise ParameterError(f"output directory {args.out!r} exists; pass --overwrite")
    with cluster_from_args(args) as handle:
        session = Session(catalog, handle)
        result = session.run(spec.build(session, params))
    result.write(args.out, overwrite=args.overwrite)
    print(result.summary())
    print(f"wrote {', '.join(result.outputs)} to {args.out}")
    return 0

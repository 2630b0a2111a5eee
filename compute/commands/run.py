"""``govgrid run JOB --data DIR --out OUT [--param VALUE ...]``: run one job, write its outputs."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from compute.cli import add_cluster_arguments, cluster_from_args
from compute.commands import parse_pairs
from compute.exceptions import ParameterError

if typing.TYPE_CHECKING:
    from compute.jobs import Params


def register(subparsers: argparse._SubParsersAction) -> None:
    # The jobs and their parameter classes import Dask: declared when `run` itself is parsed.
    subparsers.add_parser("run", help="run a job and write its outputs as Parquet",
                          populate=_add_jobs)


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    from compute.jobs import JOBS

    jobs = parser.add_subparsers(dest="job", required=True, metavar="JOB")
    for name, spec in JOBS.items():
        job = jobs.add_parser(name, help=(spec.build.__doc__ or "").splitlines()[0])
        job.add_argument("--data", required=True, metavar="DIR", help="data directory")
        job.add_argument("--out", required=True, metavar="OUT",
                         help="output directory: OUT/<output>/ per output")
        job.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
        job.add_argument("--as-of", metavar="TIME",
                         help="read every table as it was then (ISO time; default: latest)")
        job.add_argument("--input", action="append", default=[], metavar="ELEMENT=TABLE",
                         help="read ELEMENT from TABLE instead of its authoritative source")
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
    from compute.jobs import JOBS
    from compute.session import Session
    from compute.tables import Catalog, Snapshot

    spec = JOBS[args.job]
    # Everything that can be wrong with the request is found before a cluster starts: the
    # parameters, the tables the job binds to through elements, and the data's range.
    params = params_from_args(spec.params, args)
    inputs = parse_pairs(args.input, "input", "ELEMENT=TABLE")
    catalog = Catalog.load(args.data)
    spec.inputs(Snapshot(catalog, args.as_of, inputs=inputs), params)
    if Path(args.out).exists() and not args.overwrite:
        raise ParameterError(f"output directory {args.out!r} exists; pass --overwrite")
    with cluster_from_args(args) as handle:
        session = Session(catalog, handle, as_of=args.as_of)
        result = session.run(spec.build(session, params, inputs=inputs))
    result.write(args.out, overwrite=args.overwrite)
    print(result.summary())
    print(f"wrote {', '.join(result.outputs)} to {args.out}")
    return 0


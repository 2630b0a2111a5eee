"""``govgrid bench ACTION`` and ``govgrid size``, registered through ``govgrid.commands``.

Registering imports no benchmark (see :mod:`compute.cli`): an action's options that need one
are declared by its ``populate`` function when that action is parsed, and its run function
imports the rest.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from compute.cli import add_cluster_arguments, cluster_from_args, positive_int

if TYPE_CHECKING:
    from benchmarks.micro import GroupbyConfig, MergeConfig

DEFAULT_RESULTS = "bench-results/results.jsonl"
QUICK_SCALE = 0.005
QUICK_MEMORY_LIMIT = "1GiB"
POOR_FIT = 0.25  # RMS relative error of a time fit above which the sizing warns


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser(
        "bench", help="benchmarks: suite, micro, kernels, scaling, whole processes, memory, report"
    )
    actions = bench.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, help_text, populate, run in (
        ("suite", "the four jobs on govgrid and its peers", _suite_arguments, _suite),
        ("merge", "synthetic merge micro-benchmark", partial(_micro_arguments, "merge"), _merge),
        ("groupby", "synthetic group-by micro-benchmark", partial(_micro_arguments, "groupby"),
         _groupby),
        ("kernels", "the kernel micro-benchmarks (one core)", _kernels_arguments, _kernels),
        ("scaling", "suite over 1..N workers, strong and weak", _scaling_arguments, _scaling),
        ("cli", "whole processes: `govgrid run JOB` on a running cluster beside a DuckDB "
         "process, and `govgrid --help`", _processes_arguments, _processes),
        ("memory", "the jobs on workers with a memory limit: time, peak memory per worker, "
         "bytes spilled", _memory_arguments, _memory),
        ("tpch", "the 22 TPC-H queries on govgrid's SQL, DuckDB and Polars",
         _tpch_arguments, _tpch),
        ("report", "Markdown and PNG plots from results", _report_arguments, _report),
        ("quick", "all of the above, tiny, then report and size", _quick_arguments, _quick),
    ):
        action = actions.add_parser(name, help=help_text, populate=populate)
        action.set_defaults(run=run)


def register_size(subparsers: argparse._SubParsersAction) -> None:
    size = subparsers.add_parser("size", help="recommend workers and memory from results",
                                 populate=_size_arguments)
    size.set_defaults(run=_size)


def _suite_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.engines import ENGINES

    parser.add_argument("--data", required=True, metavar="DIR")
    parser.add_argument("--engines", type=_engines, default=list(ENGINES),
                        help=f"comma-separated, of {','.join(ENGINES)} (default: all)")
    _add_jobs(parser)
    _common(parser)


def _micro_arguments(kind: str, parser: argparse.ArgumentParser) -> None:
    from benchmarks.micro import GroupbyConfig, MergeConfig

    config = {"merge": MergeConfig, "groupby": GroupbyConfig}[kind]
    for field, default in vars(config()).items():
        if field == "strategy":
            parser.add_argument("--strategy", choices=("shuffle", "broadcast"), default=default)
        elif field != "repeat":
            parser.add_argument(f"--{field.replace('_', '-')}", type=type(default),
                                default=default, help=f"default {default}")
    _common(parser)
    parser.set_defaults(config=config)


def _kernels_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.kernels import add_arguments

    add_arguments(parser)
    _add_results(parser)


def _scaling_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.scaling import DEFAULT_CACHE

    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--max-workers", type=positive_int, default=2)
    parser.add_argument("--engines", type=_engines, default=["govgrid"])
    parser.add_argument("--mode", choices=("strong", "weak", "both"), default="both")
    parser.add_argument("--cache", default=DEFAULT_CACHE, type=Path, metavar="DIR")
    _common(parser, cluster=False)


def _processes_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR")
    _add_jobs(parser)
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="time against this running cluster (default: start `dask "
                        "scheduler` and --workers `dask worker` processes)")
    parser.add_argument("--workers", type=positive_int, default=2, metavar="N",
                        help="worker processes to start without --scheduler (default 2); "
                        "DuckDB gets as many threads as the cluster has")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="timed runs (median, default 3)")
    parser.add_argument("--threads-per-worker", type=positive_int, default=1)
    _add_results(parser)


def _memory_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR")
    parser.add_argument("--memory-limit", required=True, metavar="BYTES",
                        help="per worker, e.g. 1GiB or 500MB")
    _add_jobs(parser)
    _common(parser, cluster=False, repeat=1)
    parser.add_argument("--workers", type=positive_int, default=2, metavar="N",
                        help="worker processes of the local cluster (default 2)")


def _tpch_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.tpch import DEFAULT_CACHE, ENGINES

    parser.add_argument("--scale-factor", type=float, default=0.1, metavar="SF",
                        help="TPC-H scale factor (default 0.1; 1 = 6M lineitem rows)")
    parser.add_argument("--queries", type=_queries, default=list(range(1, 23)),
                        help="comma-separated query numbers (default: all 22)")
    parser.add_argument("--engines", type=partial(_names, known=dict.fromkeys(ENGINES),
                                                  what="engines"),
                        default=list(ENGINES), help=f"of {','.join(ENGINES)} (default: all)")
    parser.add_argument("--cache", default=DEFAULT_CACHE, type=Path, metavar="DIR",
                        help=f"where the generated data is kept (default {DEFAULT_CACHE})")
    parser.add_argument("--report", metavar="MD",
                        help="write the report section here (default: tpch.md beside --results)")
    _common(parser)


def _queries(text: str) -> list[int]:
    numbers = [int(n) for n in text.split(",") if n.strip()]
    if not numbers or any(not 1 <= n <= 22 for n in numbers):
        raise argparse.ArgumentTypeError(f"query numbers are 1..22, not {text!r}")
    return numbers


def _tpch(args: argparse.Namespace) -> int:
    from benchmarks.tpch import run_tpch, write_section

    records = run_tpch(args.scale_factor, args.queries, args.engines, args.repeat,
                       args.workers or 2, args.threads_per_worker, args.scheduler,
                       args.backend or "auto", args.results, args.cache)
    report = args.report or Path(args.results).with_name("tpch.md")
    print(f"wrote {write_section(args.results, report)}")
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", help="a JSON-lines results file")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="where report.md and its PNGs go")


def _quick_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.scaling import DEFAULT_CACHE

    parser.add_argument("--out", default="bench-results", metavar="DIR")
    parser.add_argument("--cache", default=DEFAULT_CACHE, type=Path, metavar="DIR")


def _size_arguments(parser: argparse.ArgumentParser) -> None:
    from benchmarks.sizing import DEFAULT_HEADROOM

    parser.add_argument("--results", required=True, metavar="RESULTS")
    parser.add_argument("--residents", type=float, required=True, help="e.g. 1.4e9")
    parser.add_argument("--deadline", required=True, help="per job, e.g. 60s or 5min")
    parser.add_argument("--headroom", type=float, default=DEFAULT_HEADROOM,
                        help=f"memory margin over the fitted peak (default {DEFAULT_HEADROOM})")
    parser.add_argument("--backend", choices=("cpu", "gpu"), default=None,
                        help="fit these results (default: GPU when present, else CPU)")


def _common(parser: argparse.ArgumentParser, cluster: bool = True, repeat: int = 3) -> None:
    parser.add_argument("--repeat", type=positive_int, default=repeat,
                        help=f"timed runs (median, default {repeat})")
    parser.add_argument("--threads-per-worker", type=positive_int, default=1)
    _add_results(parser)
    if cluster:
        add_cluster_arguments(parser)
    else:
        parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")


def _add_results(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", default=DEFAULT_RESULTS, metavar="JSONL",
                        help=f"append JSON lines here (default {DEFAULT_RESULTS})")


def _add_jobs(parser: argparse.ArgumentParser) -> None:
    from compute.jobs import JOBS

    parser.add_argument("--jobs", type=_jobs, default=list(JOBS),
                        help=f"comma-separated, of {','.join(JOBS)} (default: all)")


def _names(text: str, known: dict, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; of {', '.join(known)}")
    return names


def _engines(text: str) -> list[str]:
    from benchmarks.engines import ENGINES

    return _names(text, ENGINES, "engines")


def _jobs(text: str) -> list[str]:
    from compute.jobs import JOBS

    return _names(text, JOBS, "jobs")


def _suite(args: argparse.Namespace) -> int:
    from benchmarks.suite import run_suite

    run_suite(args.data, args.engines, args.jobs, args.repeat, args.workers or 2,
              args.threads_per_worker, args.scheduler, args.backend or "auto", args.results)
    return 0


def _merge(args: argparse.Namespace) -> int:
    from benchmarks.micro import run_merge

    with cluster_from_args(args) as handle:
        run_merge(handle, _config(args), args.results)
    return 0


def _groupby(args: argparse.Namespace) -> int:
    from benchmarks.micro import run_groupby

    with cluster_from_args(args) as handle:
        run_groupby(handle, _config(args), args.results)
    return 0


def _config(args: argparse.Namespace) -> MergeConfig | GroupbyConfig:
    fields = vars(args.config())
    return args.config(**{k: getattr(args, k) for k in fields})


def _kernels(args: argparse.Namespace) -> int:
    from benchmarks.kernels import as_argv

    return _run_kernels(args.results, as_argv(args))


def _run_kernels(results: str, argv: list[str]) -> int:
    # Its own process: the kernel benchmark pins itself to one core.
    command = [sys.executable, "-m", "benchmarks.kernels", "--json", results, *argv]
    Path(results).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, check=False).returncode


def _scaling(args: argparse.Namespace) -> int:
    from benchmarks.scaling import run_scaling

    modes = ("strong", "weak") if args.mode == "both" else (args.mode,)
    run_scaling(args.scale, args.max_workers, args.engines, args.repeat,
                args.threads_per_worker, args.backend, cache=args.cache,
                results=args.results, modes=modes)
    return 0


def _processes(args: argparse.Namespace) -> int:
    from benchmarks.processes import run_processes

    records = run_processes(args.data, args.jobs, args.workers, args.threads_per_worker,
                            args.repeat, args.scheduler, args.results)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _memory(args: argparse.Namespace) -> int:
    from benchmarks.memory import run_memory

    records = run_memory(args.data, args.memory_limit, args.workers, args.jobs, args.repeat,
                         args.threads_per_worker, args.backend, args.results)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _report(args: argparse.Namespace) -> int:
    from benchmarks.report import write_report

    print(f"wrote {write_report(args.results, args.out)}")
    return 0


def _size(args: argparse.Namespace) -> int:
    from dask.utils import format_bytes, parse_timedelta

    from benchmarks.runner import read_records
    from benchmarks.sizing import fit_job, points_from_records, recommend

    deadline = parse_timedelta(args.deadline)
    backend, points = points_from_records(read_records(args.results), args.backend)
    fits = {job: fit_job(job, job_points) for job, job_points in points.items()}
    print(f"fitted on govgrid's {backend.upper()} results "
          f"({'GPU results present' if backend == 'gpu' else 'no GPU results: CPU workers'})")
    print("assumptions: time = overhead + rows / (workers × throughput); peak memory per "
          "worker = base + bytes_per_row × rows / workers; rows ∝ residents; every job "
          f"must finish within {deadline:g} s; memory × {args.headroom} headroom")
    print("| job | points | overhead | rows/s/worker | bytes/row | rows at target "
          "| fit error (RMS) |")
    print("|---|---|---|---|---|---|---|")
    for job, fit in fits.items():
        print(f"| {job} | {fit.points} | {fit.overhead:.2f} s | {fit.throughput:,.0f} | "
              f"{fit.bytes_per_row:,.1f} | {fit.rows_per_resident * args.residents:,.0f} | "
              f"{fit.error:.1%} |")
    worst = max(fits.values(), key=lambda fit: fit.error)
    if worst.error > POOR_FIT:
        print(f"warning: the {worst.job} fit is off by {worst.error:.0%} RMS: the runs disagree "
              "with the model (fixed overheads below scale 1, or other load on the machine)")
    advice = recommend(fits, args.residents, deadline, args.headroom)
    if advice.workers is None:
        print(f"no recommendation: {advice.reason}")
        return 1
    print(f"recommendation for {args.residents:,.0f} residents within {deadline:g} s: "
          f"{advice.workers:,} {backend.upper()} workers with "
          f"{format_bytes(advice.memory_per_worker)} memory each ({advice.reason})")
    print("predicted: " + ", ".join(f"{j} {s:.1f} s" for j, s in advice.predicted.items()))
    return 0


def _quick(args: argparse.Namespace) -> int:
    """A few minutes on two cores: every benchmark at tiny size, then report and size."""
    import cluster
    from benchmarks.engines import ENGINES
    from benchmarks.memory import run_memory
    from benchmarks.micro import GroupbyConfig, MergeConfig, run_groupby, run_merge
    from benchmarks.processes import run_processes
    from benchmarks.report import write_report
    from benchmarks.scaling import cached_data, run_scaling
    from benchmarks.sizing import DEFAULT_HEADROOM
    from benchmarks.suite import run_suite

    out = Path(args.out)
    results = str(out / "results.jsonl")
    data = cached_data(QUICK_SCALE, cache=args.cache)
    run_suite(data, list(ENGINES), repeat=2, workers=2, results=results)
    with cluster.start(backend="auto", n_workers=2, threads_per_worker=1,
                       dashboard_address=":0") as handle:
        run_merge(handle, MergeConfig(chunk_size=200_000, repeat=2), results)
        run_merge(handle, MergeConfig(chunk_size=200_000, other_chunks=1,
                                      strategy="broadcast", repeat=2), results)
        run_groupby(handle, GroupbyConfig(chunk_size=200_000, split_out=2, repeat=2), results)
    code = _run_kernels(results, ["--rows", "200000", "--repeats", "2"])
    if code:
        return code
    run_scaling(QUICK_SCALE, 2, repeat=2, cache=args.cache, results=results)
    run_processes(data, workers=2, repeat=2, results=results)
    run_memory(data, QUICK_MEMORY_LIMIT, workers=2, results=results)
    print(f"wrote {write_report(results, out)}")
    return _size(argparse.Namespace(results=results, residents=1.4e9, deadline="60s",
                                    headroom=DEFAULT_HEADROOM, backend=None))

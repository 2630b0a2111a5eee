"""``govgrid bench ACTION`` and ``govgrid size``, registered through ``govgrid.commands``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from dask.utils import format_bytes, parse_timedelta

import cluster
from benchmarks.engines import ENGINES
from benchmarks.micro import GroupbyConfig, MergeConfig, run_groupby, run_merge
from benchmarks.report import write_report
from benchmarks.runner import read_records
from benchmarks.scaling import DEFAULT_CACHE, cached_data, run_scaling
from benchmarks.sizing import DEFAULT_HEADROOM, fit_job, points_from_records, recommend
from benchmarks.suite import run_suite
from compute.cli import add_cluster_arguments, cluster_from_args, positive_int
from compute.jobs import JOBS

DEFAULT_RESULTS = "bench-results/results.jsonl"
QUICK_SCALE = 0.005
POOR_FIT = 0.25  # RMS relative error of a time fit above which the sizing warns


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks: suite, micro, scaling, report")
    actions = bench.add_subparsers(dest="action", required=True, metavar="ACTION")

    suite = actions.add_parser("suite", help="the four jobs on govgrid and its peers")
    suite.add_argument("--data", required=True, metavar="DIR")
    suite.add_argument("--engines", type=_engines, default=list(ENGINES),
                       help=f"comma-separated, of {','.join(ENGINES)} (default: all)")
    suite.add_argument("--jobs", type=_jobs, default=list(JOBS), help="comma-separated")
    _common(suite)
    suite.set_defaults(run=_suite)

    for name, config, run in (("merge", MergeConfig, _merge), ("groupby", GroupbyConfig,
                                                                 _groupby)):
        micro = actions.add_parser(name, help=f"synthetic {name} micro-benchmark")
        for field, default in vars(config()).items():
            if field == "strategy":
                micro.add_argument("--strategy", choices=("shuffle", "broadcast"),
                                   default=default)
            elif field != "repeat":
                micro.add_argument(f"--{field.replace('_', '-')}", type=type(default),
                                   default=default)
        _common(micro)
        micro.set_defaults(run=run, config=config)

    kernels = actions.add_parser("kernels", help="the kernel micro-benchmarks (one core)")
    kernels.add_argument("--results", default=DEFAULT_RESULTS, metavar="JSONL")
    kernels.add_argument("args", nargs=argparse.REMAINDER,
                         help="passed to benchmarks.kernels (--rows N, --repeats N ...)")
    kernels.set_defaults(run=_kernels)

    scaling = actions.add_parser("scaling", help="suite over 1..N workers, strong and weak")
    scaling.add_argument("--scale", type=float, default=1.0)
    scaling.add_argument("--max-workers", type=positive_int, default=2)
    scaling.add_argument("--engines", type=_engines, default=["govgrid"])
    scaling.add_argument("--mode", choices=("strong", "weak", "both"), default="both")
    scaling.add_argument("--cache", default=DEFAULT_CACHE, type=Path, metavar="DIR")
    _common(scaling, cluster=False)
    scaling.set_defaults(run=_scaling)

    report = actions.add_parser("report", help="Markdown and PNG plots from results")
    report.add_argument("results", metavar="RESULTS")
    report.add_argument("--out", required=True, metavar="DIR")
    report.set_defaults(run=_report)

    quick = actions.add_parser("quick", help="all of the above, tiny, then report and size")
    quick.add_argument("--out", default="bench-results", metavar="DIR")
    quick.add_argument("--cache", default=DEFAULT_CACHE, type=Path, metavar="DIR")
    quick.set_defaults(run=_quick)


def register_size(subparsers: argparse._SubParsersAction) -> None:
    size = subparsers.add_parser("size", help="recommend workers and memory from results")
    size.add_argument("--results", required=True, metavar="RESULTS")
    size.add_argument("--residents", type=float, required=True, help="e.g. 1.4e9")
    size.add_argument("--deadline", required=True, help="per job, e.g. 60s or 5min")
    size.add_argument("--headroom", type=float, default=DEFAULT_HEADROOM,
                      help=f"memory margin over the fitted peak (default {DEFAULT_HEADROOM})")
    size.add_argument("--backend", choices=("cpu", "gpu"), default=None,
                      help="fit these results (default: GPU when present, else CPU)")
    size.set_defaults(run=_size)


def _common(parser: argparse.ArgumentParser, cluster: bool = True) -> None:
    parser.add_argument("--repeat", type=positive_int, default=3, help="timed runs (median)")
    parser.add_argument("--threads-per-worker", type=positive_int, default=1)
    parser.add_argument("--results", default=DEFAULT_RESULTS, metavar="JSONL",
                        help=f"append JSON lines here (default {DEFAULT_RESULTS})")
    if cluster:
        add_cluster_arguments(parser)
    else:
        parser.add_argument("--backend", choices=("auto", "cpu", "gpu"), default="auto")


def _names(text: str, known: dict, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown {what} {unknown}; of {', '.join(known)}")
    return names


def _engines(text: str) -> list[str]:
    return _names(text, ENGINES, "engines")


def _jobs(text: str) -> list[str]:
    return _names(text, JOBS, "jobs")


def _suite(args: argparse.Namespace) -> int:
    run_suite(args.data, args.engines, args.jobs, args.repeat, args.workers or 2,
              args.threads_per_worker, args.scheduler, args.backend or "auto", args.results)
    return 0


def _merge(args: argparse.Namespace) -> int:
    with cluster_from_args(args) as handle:
        run_merge(handle, _config(args), args.results)
    return 0


def _groupby(args: argparse.Namespace) -> int:
    with cluster_from_args(args) as handle:
        run_groupby(handle, _config(args), args.results)
    return 0


def _config(args: argparse.Namespace) -> MergeConfig | GroupbyConfig:
    fields = vars(args.config())
    return args.config(**{k: getattr(args, k) for k in fields})


def _kernels(args: argparse.Namespace) -> int:
    # Its own process: the kernel benchmark pins itself to one core.
    extra = [a for a in args.args if a != "--"]
    command = [sys.executable, "-m", "benchmarks.kernels", "--json", args.results, *extra]
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    return subprocess.run(command, check=False).returncode


def _scaling(args: argparse.Namespace) -> int:
    modes = ("strong", "weak") if args.mode == "both" else (args.mode,)
    run_scaling(args.scale, args.max_workers, args.engines, args.repeat,
                args.threads_per_worker, args.backend, cache=args.cache,
                results=args.results, modes=modes)
    return 0


def _report(args: argparse.Namespace) -> int:
    print(f"wrote {write_report(args.results, args.out)}")
    return 0


def _size(args: argparse.Namespace) -> int:
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
    code = _kernels(argparse.Namespace(results=results,
                                       args=["--rows", "200000", "--repeats", "2"]))
    if code:
        return code
    run_scaling(QUICK_SCALE, 2, repeat=2, cache=args.cache, results=results)
    print(f"wrote {write_report(results, out)}")
    return _size(argparse.Namespace(results=results, residents=1.4e9, deadline="60s",
                                    headroom=DEFAULT_HEADROOM, backend=None))

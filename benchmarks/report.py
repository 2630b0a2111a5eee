"""The sizing-review report: Markdown tables and PNG plots from a JSON-lines results file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from benchmarks.engines import ENGINES
from benchmarks.memory import memory_table
from benchmarks.processes import process_table
from benchmarks.runner import read_records
from benchmarks.scaling import efficiencies, efficiency_table
from benchmarks.suite import summary_table

Record = Mapping[str, Any]
PALETTE = plt.get_cmap("tab10").colors
OTHER_ENGINE = "0.55"  # grey: an engine outside ENGINES (a test's, a retired one)
LOG_SPREAD = 30  # a time axis turns logarithmic when its largest bar is this many times the least
TOP_GROUPS = 6  # task groups shown by name in the breakdown; the rest are summed as "other"


def engine_colour(engine: str) -> Any:
    """The colour of ``engine`` in every plot: fixed by its place in ENGINES."""
    return PALETTE[list(ENGINES).index(engine)] if engine in ENGINES else OTHER_ENGINE


def _plain_seconds(ax: Axes, values: Sequence[float]) -> None:
    """Seconds as plain numbers (1, 2, 5, 10 ...): a log axis only when the bars span more
    than LOG_SPREAD times, and then with 1-2-5 ticks, never 6×10^0."""
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPREAD:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))


def _latest(records: Sequence[Record], kind: str, key: Sequence[str]) -> list[Record]:
    """The last record of each ``key`` among the records of ``kind``."""
    chosen = {tuple(r[k] for k in key): r for r in records if r.get("kind") == kind}
    return list(chosen.values())


def latest_suite(records: Sequence[Record]) -> list[Record]:
    """The suite records at the scale of the last suite run; later runs replace earlier ones."""
    suite = [r for r in records if r.get("kind") == "suite"]
    chosen = {(r["engine"], r["job"]): r for r in suite if r["scale"] == suite[-1]["scale"]}
    return list(chosen.values())


def plot_suite(records: Sequence[Record], path: Path) -> None:
    engines = list(dict.fromkeys(r["engine"] for r in records))
    jobs = list(dict.fromkeys(r["job"] for r in records))
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(max(8, 1.2 * len(jobs) * len(engines) / 2), 4.5))
    for i, engine in enumerate(engines):
        medians = {r["job"]: r.get("median") for r in records if r["engine"] == engine}
        xs = [j + i * width for j in range(len(jobs))]
        bars = ax.bar(xs, [medians.get(job) or 0 for job in jobs], width, label=engine,
                      color=engine_colour(engine))
        ax.bar_label(bars, [_seconds_label(medians.get(job)) for job in jobs], fontsize=7,
                     padding=2)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(jobs))], jobs)
    ax.set_ylabel("median wall time (s)")
    _plain_seconds(ax, [r["median"] for r in records if r.get("median")])
    ax.margins(y=0.15)
    ax.set_title(f"Time per job per engine (scale {records[0]['scale']:g}; - = not timed)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _seconds_label(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.2f}" if seconds < 10 else f"{seconds:.0f}"


def plot_scaling(rows: Sequence[Record], path: Path) -> None:
    fig, (times, efficiency) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        for engine in dict.fromkeys(r["engine"] for r in rows):
            series = [r for r in rows if r["kind"] == kind and r["engine"] == engine]
            if not series:
                continue
            style = dict(marker="o", color=engine_colour(engine),
                         linestyle="--" if kind.endswith("weak") else "-",
                         label=f"{engine}, {kind.removeprefix('scaling-')}")
            workers = [r["workers"] for r in series]
            times.plot(workers, [r["total"] for r in series], **style)
            efficiency.plot(workers, [r["efficiency"] for r in series], **style)
    times.set(xlabel="workers", ylabel="suite total (s)", title="Scaling: suite time")
    times.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    for ax in (times, efficiency):
        ax.xaxis.get_major_locator().set_params(integer=True)
    efficiency.set(xlabel="workers", ylabel="efficiency", ylim=(0, 1.2),
                   title="Scaling efficiency")
    efficiency.axhline(1.0, color="grey", linewidth=0.5)
    times.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_throughput(records: Sequence[Record], path: Path) -> None:
    """Rows per second per worker of each job (and micro-benchmark) on each engine."""
    timed = [r for r in records if r.get("median")]
    values = [r["rows"] / r["median"] / r["workers"] / 1e6 for r in timed]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(timed)), 4.5))
    bars = ax.bar(range(len(values)), values, color=[engine_colour(r["engine"]) for r in timed])
    ax.bar_label(bars, [f"{v:.2g}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(timed)), [f"{r['engine']}\n{r['job']}" for r in timed],
                  rotation=90, fontsize=7)
    ax.margins(y=0.12)
    ax.set_ylabel("million rows / s / worker")
    ax.set_title("Throughput per worker")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def breakdown_table(records: Sequence[Record]) -> str:
    """Per timed job: wall time, govgrid's stages (build: the median less the last run's plan
    and compute), CPU of this process (the client and a local
    scheduler) beside the workers', and the busiest task groups."""
    lines = ["| engine | job | wall | build (client) | plan (client) | compute "
             "| CPU client + scheduler | CPU workers "
             "| busiest task groups (busy s, all workers) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        stages = dict(r.get("stage_seconds", {}))
        if stages:  # the job's graph is built before the session's stages start
            stages = {"build": max(0.0, r["median"] - sum(stages.values())), **stages}
        groups = list(r.get("task_seconds", {}).items())[:4]
        lines.append(
            f"| {r['engine']} | {r['job']} | {r['median']:.2f} s | "
            + " | ".join(f"{stages[s]:.2f} s" if s in stages else "-"
                         for s in ("build", "plan", "compute"))
            + f" | {r['cpu_this_process']:.2f} s | {r['cpu_child_processes']:.2f} s | "
            + (", ".join(f"{g} {t:.2f}" for g, t in groups) or "-") + " |"
        )
    return "\n".join(lines)


def plot_task_groups(records: Sequence[Record], path: Path) -> None:
    """Busy seconds per task group of each job that reports them (govgrid), summed over the
    workers, beside its wall time: the rest of the wall time is the client's and waiting."""
    totals: dict[str, float] = {}
    for r in records:
        for group, seconds in r["task_seconds"].items():
            totals[group] = totals.get(group, 0.0) + seconds
    named = sorted(totals, key=totals.get, reverse=True)[:TOP_GROUPS]
    labels = [f"{r['engine']} {r['job']}" for r in records]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.55 * len(records)))
    left = [0.0] * len(records)
    for colour, group in zip(plt.get_cmap("Set2").colors, [*named, "other"], strict=False):
        widths = [sum(t for g, t in r["task_seconds"].items()
                      if g == group or (group == "other" and g not in named)) for r in records]
        ax.barh(labels, widths, left=left, height=0.6, color=colour, label=group)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, (busy, r) in enumerate(zip(left, records, strict=True)):
        ax.text(busy, y, f" {busy:.2f} s busy · {r['median']:.2f} s wall", va="center",
                fontsize=8)
    ax.invert_yaxis()
    ax.margins(x=0.3)
    ax.set(xlabel="busy seconds per run, summed over workers",
           title="Where the workers' time goes, per task group")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_cpu_split(records: Sequence[Record], path: Path) -> None:
    """CPU seconds per run of each engine's jobs: the workers', then this process's (the
    client and a local scheduler; everything, for a single-process engine)."""
    names = [f"{r['engine']} {r['job']}" for r in records]
    colours = [engine_colour(r["engine"]) for r in records]
    workers = [r["cpu_child_processes"] for r in records]
    own = [r["cpu_this_process"] for r in records]
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(records)))
    ax.barh(names, workers, height=0.7, color=colours)
    ax.barh(names, own, left=workers, height=0.7, color=colours, alpha=0.45, hatch="//")
    for y, (a, b) in enumerate(zip(workers, own, strict=True)):
        ax.text(a + b, y, f" {a:.2f} + {b:.2f} s", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.margins(x=0.25)
    ax.set(xlabel="CPU seconds per run", title="CPU per run: worker processes + this process")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(handles=[  # grey: the colours are the engines'
        Patch(color=OTHER_ENGINE, label="worker processes"),
        Patch(facecolor=OTHER_ENGINE, alpha=0.45, hatch="//",
              label="this process: client and local scheduler (single-process engines: all)"),
    ], fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(results: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write ``out/report.md`` and its PNGs from the records in ``results``; return the path."""
    records = read_records(results)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# govgrid benchmark report", "", f"Results: `{Path(results).resolve()}`", ""]
    env = next((r["environment"] for r in reversed(records) if "environment" in r), None)
    if env:
        gpus = ", ".join(f"{g['name']} ({g['memory_bytes'] / 2**30:.0f} GiB)"
                         for g in env["gpus"]) or "none"
        lines += ["## Environment", "", "| key | value |", "|---|---|",
                  f"| CPU | {env['cpu_model']} ({env['cores']} cores) |",
                  f"| memory | {env['memory_bytes'] / 2**30:.1f} GiB |",
                  f"| GPUs | {gpus} |", f"| git commit | {env['git_commit']} |",
                  "| libraries | " + ", ".join(f"{k} {v}" for k, v in env["libraries"].items())
                  + " |", ""]
    suite = latest_suite(records)
    if suite:
        first = suite[0]
        lines += [f"## Suite (scale {first['scale']:g}, {first['residents']:,} residents, "
                  f"backend {first['backend']})", "",
                  "Median wall time of each job; the outputs were checked equal to the "
                  "reference engine's before timing.", "", summary_table(suite), ""]
        for r in suite:
            if r["status"] != "ok":
                lines += [f"- **{r['engine']} {r['job']}: {r['status']}**, not timed:",
                          "", "```", r.get("detail", ""), "```", ""]
        lines += ["![time per job](suite_times.png)", ""]
        plot_suite(suite, out / "suite_times.png")
        timed_suite = [r for r in suite if r.get("median")]
        if timed_suite:
            lines += ["### Where the time goes", "",
                      "Wall time per run; govgrid's stages: build (the job's graph, in the "
                      "client), plan (graph optimisation and submission, in the client) and "
                      "compute (until the outputs are back); CPU seconds per run of "
                      "this process (the client and, for a local cluster, the scheduler) and "
                      "of the worker processes; the task groups that kept the workers busy.",
                      "", breakdown_table(timed_suite), "",
                      "![CPU per run](cpu_split.png)", ""]
            plot_cpu_split(timed_suite, out / "cpu_split.png")
            grouped = [r for r in timed_suite if r.get("task_seconds")]
            if grouped:
                lines += ["![task groups](task_groups.png)", ""]
                plot_task_groups(grouped, out / "task_groups.png")
    scaling = [r for r in records if str(r.get("kind")).startswith("scaling")]
    if efficiencies(scaling):
        lines += ["## Scaling", "", "Strong: fixed scale; weak: scale ∝ workers. Efficiency "
                  "T(1) / (w·T(w)) strong, T(1) / T(w) weak.", "", efficiency_table(scaling),
                  "", "![scaling](scaling.png)", ""]
        plot_scaling(efficiencies(scaling), out / "scaling.png")
    processes = _latest(records, "cli", ("engine", "job"))
    if processes:
        lines += ["## Whole processes", "",
                  f"Scale {processes[-1]['scale']:g}: each job as a `govgrid run` process "
                  "joining a running cluster, beside a DuckDB process running the same job "
                  "(`benchmarks.engines.duckdb_sql_job`); both write their outputs as Parquet. "
                  "Median wall time of the process, interpreter start and imports included.",
                  "", process_table(processes), ""]
    memory = _latest(records, "memory", ("job", "memory_limit", "workers"))
    if memory:
        lines += ["## Memory limits", "", "Peak resident memory of each worker process, "
                  "sampled every 50 ms; bytes its spill buffer wrote to disk per run.", "",
                  memory_table(memory), ""]
    micro = [r for r in records if r.get("kind") in ("merge", "groupby")]
    if micro:
        lines += ["## Merge and group-by micro-benchmarks", "",
                  "| kind | parameters | backend | workers | median | MiB/s per worker |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['kind']} | " + ", ".join(f"{k}={v}" for k, v in r["params"].items()
                                                 if k not in ("repeat", "seed"))
                  + f" | {r['backend']} | {r['workers']} | {r['median']:.3f} s | "
                  f"{r['throughput_per_worker'] / 2**20:,.1f} |" for r in micro]
        lines.append("")
    kernels = [r for r in records if r.get("suite") == "kernels"]
    if kernels:
        lines += ["## Kernels (one core)", "", "| measurement | value |", "|---|---|"]
        lines += [f"| {r['measurement']} | {r['value']:,.3f} {r['unit']} |" for r in kernels]
        lines.append("")
    timed = [r for r in [*suite, *micro] if r.get("median")]
    if timed:
        lines += ["## Throughput per worker", "", "![throughput](throughput_per_worker.png)", ""]
        plot_throughput(timed, out / "throughput_per_worker.png")
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

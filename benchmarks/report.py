"""The sizing-review report: Markdown tables and PNG plots from a JSON-lines results file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in CI
import matplotlib.pyplot as plt

from benchmarks.runner import read_records
from benchmarks.scaling import efficiencies, efficiency_table
from benchmarks.suite import summary_table

Record = Mapping[str, Any]


def latest_suite(records: Sequence[Record]) -> list[Record]:
    """The suite records at the scale of the last suite run; later runs replace earlier ones."""
    suite = [r for r in records if r.get("kind") == "suite"]
    chosen = {(r["engine"], r["job"]): r for r in suite if r["scale"] == suite[-1]["scale"]}
    return list(chosen.values())


def plot_suite(records: Sequence[Record], path: Path) -> None:
    engines = list(dict.fromkeys(r["engine"] for r in records))
    jobs = list(dict.fromkeys(r["job"] for r in records))
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, engine in enumerate(engines):
        medians = {r["job"]: r.get("median") for r in records if r["engine"] == engine}
        xs = [j + i * width for j in range(len(jobs))]
        ax.bar(xs, [medians.get(job) or 0 for job in jobs], width, label=engine)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(jobs))], jobs)
    ax.set_ylabel("median wall time (s)")
    ax.set_yscale("log")
    ax.set_title(f"Time per job per engine (scale {records[0]['scale']:g})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_scaling(rows: Sequence[Record], path: Path) -> None:
    fig, (times, efficiency) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in dict.fromkeys(r["kind"] for r in rows):
        for engine in dict.fromkeys(r["engine"] for r in rows):
            series = [r for r in rows if r["kind"] == kind and r["engine"] == engine]
            label = f"{engine}, {kind.removeprefix('scaling-')}"
            workers = [r["workers"] for r in series]
            times.plot(workers, [r["total"] for r in series], marker="o", label=label)
            efficiency.plot(workers, [r["efficiency"] for r in series], marker="o", label=label)
    times.set(xlabel="workers", ylabel="suite total (s)", title="Scaling: suite time")
    efficiency.set(xlabel="workers", ylabel="efficiency", ylim=(0, 1.2),
                   title="Scaling efficiency")
    efficiency.axhline(1.0, color="grey", linewidth=0.5)
    times.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_throughput(records: Sequence[Record], path: Path) -> None:
    """Rows per second per worker of each job (and micro-benchmark) on each engine."""
    labels, values = [], []
    for r in records:
        if r.get("median"):
            labels.append(f"{r['engine']}\n{r['job']}")
            values.append(r["rows"] / r["median"] / r["workers"] / 1e6)
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(labels)), 4.5))
    ax.bar(range(len(values)), values)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_ylabel("million rows / s / worker")
    ax.set_title("Throughput per worker")
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
    scaling = [r for r in records if str(r.get("kind")).startswith("scaling")]
    if efficiencies(scaling):
        lines += ["## Scaling", "", "Strong: fixed scale; weak: scale ∝ workers. Efficiency "
                  "T(1) / (w·T(w)) strong, T(1) / T(w) weak.", "", efficiency_table(scaling),
                  "", "![scaling](scaling.png)", ""]
        plot_scaling(efficiencies(scaling), out / "scaling.png")
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

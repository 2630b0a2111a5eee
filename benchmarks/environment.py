"""The environment a benchmark ran in: CPU, memory, GPUs, library versions, git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil

import cluster

LIBRARIES = (
    "dask", "distributed", "pandas", "pyarrow", "numpy", "numba", "duckdb", "polars",
    "rapidfuzz", "cudf-cu12", "dask-cuda", "cupy-cuda12x", "rmm-cu12",
)


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else the platform module)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""  # not Linux
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The commit of the govgrid checkout, with ``-dirty`` when files changed; None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty.strip() else "")


@cache
def environment() -> dict[str, Any]:
    """What the results need to be read on another machine; GPUs as this process sees them."""
    probe = cluster.probe_gpu()
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            continue  # not installed here (the GPU stack on a CPU machine)
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "gpus": [{"name": name, "memory_bytes": memory} for name, memory in probe.devices],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": libraries,
        "git_commit": git_commit(),
    }

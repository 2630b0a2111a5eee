"""``govgrid doctor``: the stack, the GPUs, and whether the GPU gives the CPU's results.

One JSON-ready report (a dict):

    stack    versions of the Python stack; the GPU libraries where they import
    gpus     what :func:`cluster.probe_gpu` sees, and the NVIDIA driver
    cpu      every kernel on generated IDs and names (here, on the host, no cluster) and
             every job on a local CPU cluster: seconds and rows out
    gpu      every kernel on the device, equal bit for bit to its CPU result, and every job
             on the GPU backend, equal to the CPU backend's outputs, with the seconds of both;
             without a usable GPU: ``{"ran": false, "reason": ...}``
    passed   whether everything that ran passed

Every check catches its own failure, so one broken kernel or job is reported, not raised.
"""

from __future__ import annotations

import importlib
import platform
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

import cluster
import kernels
from compute.generate import generate

if TYPE_CHECKING:
    from cluster.backend import GpuProbe

DEFAULT_SCALE = 0.005  # 5,000 residents: every job's default parameters lie in the data
# SQL queries checked like the jobs (GPU against CPU): an identifier join through packed keys,
# kernels as functions, a ROLLUP, a window and a top-k.
QUERIES = {
    "sql insured names": (
        "SELECT province_of(i.division_code) AS province, count(*) AS records, "
        "sum(CASE WHEN i.name <> r.name THEN 1 ELSE 0 END) AS differing, "
        "min(jaro_winkler(i.name, r.name)) AS least_similar "
        "FROM insured_persons AS i JOIN residents AS r ON i.resident_id = r.resident_id "
        "GROUP BY 1"),
    "sql population rollup": (
        "SELECT province_of(division_code) AS province, sex, count(*) AS residents "
        "FROM residents "
        "WHERE valid_resident_id(resident_id) GROUP BY ROLLUP (province_of(division_code), sex)"),
    "sql oldest per county": (
        "SELECT division_code, resident_id, birth_date FROM ("
        "SELECT division_code, resident_id, birth_date, row_number() OVER ("
        "PARTITION BY division_code ORDER BY birth_date, resident_id) AS n FROM residents) "
        "WHERE n = 1 ORDER BY birth_date, resident_id LIMIT 20"),
}
CPU_STACK = ("dask", "distributed", "pandas", "pyarrow", "numpy", "numba", "numba-cuda")
GPU_MODULES = ("cudf", "dask_cudf", "cupy", "rmm", "dask_cuda")
FLOAT_RTOL = 1e-9  # job outputs: sums over rows in another order differ in the last bits

# Every public kernel, with the generated columns it takes (see kernel_inputs).
KERNEL_INPUTS = {
    "normalise_resident_id": ("ids",),
    "validate_resident_id": ("ids",),
    "pack_resident_id": ("ids",),
    "resident_id_fields": ("ids",),
    "unpack_resident_id": ("keys",),
    "normalise_uscc": ("usccs",),
    "validate_uscc": ("usccs",),
    "pack_uscc": ("usccs",),
    "unpack_uscc": ("high", "low"),
    "jaro_winkler": ("a", "b"),
    "levenshtein": ("a", "b"),
}


def apply_kernel(name: str, columns: dict[str, Any]) -> Any:
    """Public kernel ``name`` applied to its columns of ``columns``."""
    return getattr(kernels, name)(*(columns[key] for key in KERNEL_INPUTS[name]))


def run(scale: float = DEFAULT_SCALE, seed: int = 0) -> dict[str, Any]:
    """Generate a small dataset in a temporary directory and check everything on it."""
    probe = cluster.probe_gpu()
    report: dict[str, Any] = {"stack": stack_versions(), "gpus": gpus_seen(probe)}
    with tempfile.TemporaryDirectory(prefix="govgrid-doctor-") as tmp:
        data = Path(tmp) / "data"
        started = time.perf_counter()
        generate(data, scale=scale, seed=seed)
        report["data"] = {"scale": scale, "seed": seed,
                          "generate_seconds": time.perf_counter() - started}
        inputs = kernel_inputs(data)
        cpu_kernels = _run_kernels(inputs)
        cpu_jobs = _jobs_on(data, "cpu")
        report["cpu"] = {
            "ran": True,
            "rows": len(inputs["ids"]),
            "kernels": {name: _summary(*result) for name, result in cpu_kernels.items()},
            "jobs": {name: _summary(*result) for name, result in cpu_jobs.items()},
        }
        if probe.usable:
            report["gpu"] = _gpu_half(data, inputs, cpu_kernels, cpu_jobs)
        else:
            report["gpu"] = {"ran": False, "reason": f"no usable GPU: {probe.problem}"}
    report["passed"] = all(
        check["passed"]
        for half in ("cpu", "gpu") if report[half]["ran"]
        for part in ("kernels", "jobs")
        for check in report[half][part].values()
    )
    return report


def stack_versions() -> dict[str, str | None]:
    """Installed versions of the stack; a GPU library that does not import is None."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in CPU_STACK:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    for module in GPU_MODULES:
        try:
            versions[module] = importlib.import_module(module).__version__
        except Exception:  # ImportError, or a CUDA library that fails to load
            versions[module] = None
    return versions


def gpus_seen(probe: GpuProbe) -> dict[str, Any]:
    """The devices the probe sees, whether they are usable (and why not), the driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
    except Exception as exc:  # no pynvml, or no NVIDIA driver on this machine
        driver = f"unknown ({type(exc).__name__}: {exc})"
    return {
        "usable": probe.usable,
        "problem": probe.problem,
        "devices": [{"name": name, "memory_bytes": memory} for name, memory in probe.devices],
        "driver": driver if isinstance(driver, str) else driver.decode(),
    }


def kernel_inputs(data: Path) -> dict[str, pd.Series]:
    """The generated columns the kernels take, as pandas Series, dirty values included.

    Roster IDs and names (planted defects) paired with the registry's name for the same ID;
    enterprises' credit codes.
    """
    roster = _read(data, "insured_persons", ["resident_id", "name"])
    registry = _read(data, "residents", ["resident_id", "name"]).drop_duplicates("resident_id")
    pairs = roster.merge(registry, on="resident_id", how="left", suffixes=("", "_registry"))
    usccs = _read(data, "enterprises", ["uscc"])["uscc"]
    packed = kernels.pack_uscc(usccs)
    ids = pairs["resident_id"]
    return {
        "ids": ids,
        "keys": kernels.pack_resident_id(ids),
        "a": pairs["name"],
        "b": pairs["name_registry"],
        "usccs": usccs,
        "high": packed["high"],
        "low": packed["low"],
    }


def _read(data: Path, table: str, columns: list[str]) -> pd.DataFrame:
    # The generated tables have one version, so every data file of the directory is current.
    frame = ds.dataset(data / table, format="parquet").to_table(columns=columns).to_pandas()
    return frame.astype({column: "str" for column in columns})


def run_jobs(data: Path, handle: cluster.Cluster) -> dict[str, Callable[[], Any]]:
    """One callable per job and per query of :data:`QUERIES`: build it on a Session over
    ``data`` and ``handle``, run it, return its outputs (pandas DataFrames)."""
    from compute.jobs import JOBS
    from compute.session import Session
    from compute.tables import Catalog

    session = Session(Catalog.load(data), handle)

    def runner(name: str) -> Callable[[], Any]:
        return lambda: session.run(JOBS[name].build(session), show_progress=False).outputs

    def query(text: str) -> Callable[[], Any]:
        return lambda: session.run_sql(text, show_progress=False).outputs

    return {**{name: runner(name) for name in JOBS},
            **{name: query(text) for name, text in QUERIES.items()}}


def _jobs_on(data: Path, backend: str) -> dict[str, tuple[Any, float, str | None]]:
    with cluster.start(backend=backend, n_workers=1, dashboard_address=":0") as handle:
        return {name: _timed(job) for name, job in run_jobs(data, handle).items()}


def _gpu_half(
    data: Path,
    inputs: dict[str, pd.Series],
    cpu_kernels: dict[str, tuple[Any, float, str | None]],
    cpu_jobs: dict[str, tuple[Any, float, str | None]],
) -> dict[str, Any]:
    import cudf

    gpu_kernels = _run_kernels({key: cudf.from_pandas(s) for key, s in inputs.items()})
    try:
        gpu_jobs = _jobs_on(data, "gpu")
    except Exception as exc:  # the GPU cluster did not start: every job failed
        gpu_jobs = {name: (None, 0.0, _error(exc)) for name in cpu_jobs}
    return {
        "ran": True,
        "kernels": {
            name: _against(cpu_kernels[name], gpu_kernels[name], kernel_difference)
            for name in KERNEL_INPUTS
        },
        "jobs": {
            name: _against(cpu_jobs[name], gpu_jobs[name], outputs_difference)
            for name in cpu_jobs
        },
    }


def _run_kernels(columns: dict[str, Any]) -> dict[str, tuple[Any, float, str | None]]:
    """Every kernel twice over ``columns``: the first call compiles it, the second is timed."""
    results = {}
    for name in KERNEL_INPUTS:
        first = _timed(apply_kernel, name, columns)
        results[name] = first if first[2] else _timed(apply_kernel, name, columns)
    return results


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, str | None]:
    """``fn(*args)``, its wall seconds, and the error it raised (None when it did not)."""
    started = time.perf_counter()
    try:
        value, error = fn(*args), None
    except Exception as exc:
        value, error = None, _error(exc)
    return value, time.perf_counter() - started, error


def _error(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _summary(value: Any, seconds: float, error: str | None) -> dict[str, Any]:
    """A CPU check: passed unless it raised; seconds and rows out."""
    if error is not None:
        return {"passed": False, "seconds": seconds, "error": error}
    rows = ({name: len(frame) for name, frame in value.items()} if isinstance(value, dict)
            else len(value))
    return {"passed": True, "seconds": seconds, "rows": rows}


def _against(
    cpu: tuple[Any, float, str | None],
    gpu: tuple[Any, float, str | None],
    difference: Callable[[Any, Any], str | None],
) -> dict[str, Any]:
    """A GPU check: passed when both ran and ``difference`` finds none."""
    (expected, cpu_seconds, cpu_error), (got, gpu_seconds, gpu_error) = cpu, gpu
    problem = (cpu_error and f"the CPU run failed: {cpu_error}") or gpu_error
    if problem is None:
        try:
            problem = difference(expected, got)
        except Exception as exc:  # e.g. a host object where a device one was expected
            problem = f"could not compare: {_error(exc)}"
    result = {"passed": problem is None, "cpu_seconds": cpu_seconds, "gpu_seconds": gpu_seconds}
    return result if problem is None else {**result, "difference": problem}


def kernel_difference(expected: pd.Series | pd.DataFrame, got: Any) -> str | None:
    """How a kernel's device result (cuDF) differs from its CPU result, or None: the same
    index, the same nulls, and every value equal bit for bit (floats by their bits)."""
    got = got.to_pandas()
    if not got.index.equals(expected.index):
        return "the index differs from the input's"
    left, right = _frame(expected), _frame(got)
    if list(left.columns) != list(right.columns):
        return f"columns {list(right.columns)}, expected {list(left.columns)}"
    for column in left.columns:
        mismatch = np.flatnonzero(_exact(left[column]) != _exact(right[column]))
        if len(mismatch):
            row = mismatch[0]
            return (f"{column}: {len(mismatch)} rows differ, first at row {row}: "
                    f"{right[column].iloc[row]!r}, expected {left[column].iloc[row]!r}")
    return None


def _frame(result: pd.Series | pd.DataFrame) -> pd.DataFrame:
    return result.to_frame() if isinstance(result, pd.Series) else result


def _exact(values: pd.Series) -> np.ndarray:
    """Values to compare exactly: floats as their bits (null as NaN), others as objects."""
    if pd.api.types.is_float_dtype(values):
        return values.to_numpy(dtype=np.float64, na_value=np.nan).view(np.uint64)
    return values.astype(object).where(values.notna(), None).to_numpy()


def outputs_difference(
    expected: dict[str, pd.DataFrame], got: dict[str, pd.DataFrame]
) -> str | None:
    """How a job's GPU outputs differ from its CPU outputs, or None: per output, the same
    columns and the same rows in any order; floats equal to a relative ``FLOAT_RTOL``."""
    if sorted(got) != sorted(expected):
        return f"outputs {sorted(got)}, expected {sorted(expected)}"
    for name, frame in expected.items():
        left, right = _comparable(frame), _comparable(got[name])
        if list(left.columns) != list(right.columns):
            return f"{name}: columns {list(right.columns)}, expected {list(left.columns)}"
        if len(left) != len(right):
            return f"{name}: {len(right)} rows, expected {len(left)}"
        for column in left.columns:
            a, b = left[column].to_numpy(), right[column].to_numpy()
            if a.dtype.kind == "f":
                same = np.isclose(a, b, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True)
            else:
                same = a == b
            if not same.all():
                return f"{name}.{column}: {int((~same).sum())} of {len(a)} rows differ"
    return None


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Backend-neutral values: numbers as int64 or float64 (NaN for nulls), dates as
    datetime64[s], the rest as objects (None for nulls); rows sorted."""
    columns = {}
    for column in frame.columns:
        values = frame[column].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.astype("datetime64[s]")
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
            values = values.astype("float64" if values.isna().any() else "int64")
        elif pd.api.types.is_float_dtype(values):
            values = values.astype("float64")
        else:
            values = values.astype(object).where(values.notna(), None)
        columns[column] = values
    out = pd.DataFrame(columns, index=range(len(frame)))
    # Exact columns order the rows; floats (summed in another order) only break ties.
    floats = [c for c in out.columns if out[c].dtype.kind == "f"]
    keys = [c for c in out.columns if c not in floats] + floats
    return out.sort_values(keys, na_position="first").reset_index(drop=True)


def summary(report: dict[str, Any]) -> str:
    """A few lines for a terminal: versions, GPUs, each check and its seconds."""
    stack = ", ".join(f"{k} {v}" for k, v in report["stack"].items() if v)
    gpus = report["gpus"]
    lines = [f"stack   {stack}",
             f"gpus    {[d['name'] for d in gpus['devices']] or 'none'}; "
             f"driver {gpus['driver']}"]
    for half in ("cpu", "gpu"):
        part = report[half]
        if not part["ran"]:
            lines.append(f"{half}     not run: {part['reason']}")
            continue
        for kind in ("kernels", "jobs"):
            for name, check in part[kind].items():
                seconds = check.get("seconds", check.get("gpu_seconds"))
                status = "ok" if check["passed"] else "FAILED " + check.get(
                    "error", check.get("difference", ""))
                lines.append(f"{half}     {kind[:-1]:6} {name:22} {seconds:7.3f}s  {status}")
    lines.append("passed" if report["passed"] else "FAILED")
    return "\n".join(lines)

"""`govgrid doctor`: a real run of the CPU half, and the one comparison of CPU and GPU outputs."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

import cluster
import kernels
from compute import cli, doctor
from compute.commands import doctor as doctor_command
from compute.jobs import JOBS


@pytest.fixture(scope="module")
def doctor_run(tmp_path_factory):
    """The command's own parser and run, writing the report to a file: (status, report)."""
    out = tmp_path_factory.mktemp("doctor") / "report.json"
    parser = argparse.ArgumentParser()
    doctor_command.register(parser.add_subparsers())
    args = parser.parse_args(["doctor", "--out", str(out)])
    status = args.run(args)
    return status, json.loads(out.read_text())


def test_doctor_is_a_registered_command():
    assert "compute.commands.doctor" in cli.COMMAND_MODULES


def test_the_report_names_the_stack_and_the_gpus(doctor_run):
    _, report = doctor_run
    stack = report["stack"]
    for name in ("python", "dask", "distributed", "pandas", "pyarrow", "numba", "numba-cuda"):
        assert stack[name], name
    assert set(doctor.GPU_MODULES) <= set(stack)  # a version, or None where it does not import
    probe = cluster.probe_gpu()
    assert report["gpus"]["usable"] == probe.usable
    assert report["gpus"]["problem"] == probe.problem
    assert len(report["gpus"]["devices"]) == len(probe.devices)
    assert report["gpus"]["driver"]


def test_the_cpu_half_runs_every_kernel_and_job(doctor_run):
    status, report = doctor_run
    cpu = report["cpu"]
    assert cpu["ran"] and cpu["rows"] > 0
    assert sorted(cpu["kernels"]) == sorted(kernels.__all__)
    assert sorted(cpu["jobs"]) == sorted([*JOBS, *doctor.QUERIES])
    for check in [*cpu["kernels"].values(), *cpu["jobs"].values()]:
        assert check["passed"], check
        assert check["seconds"] >= 0
    assert cpu["jobs"]["verify"]["rows"]["conflicts"] > 0  # planted defects were found
    assert all(cpu["jobs"][name]["rows"]["result"] > 0 for name in doctor.QUERIES)
    assert report["passed"] and status == 0


def test_without_a_gpu_the_gpu_half_says_it_did_not_run_and_why(doctor_run):
    _, report = doctor_run
    probe = cluster.probe_gpu()
    if probe.usable:  # the GPU half ran; its results are checked by the gpu test below
        assert report["gpu"]["ran"] is True
    else:
        assert report["gpu"] == {"ran": False, "reason": f"no usable GPU: {probe.problem}"}


@pytest.mark.gpu
def test_on_a_gpu_every_kernel_and_job_matches_the_cpu(doctor_run):
    _, report = doctor_run
    gpu = report["gpu"]
    assert gpu["ran"]
    assert sorted(gpu["kernels"]) == sorted(kernels.__all__)
    assert sorted(gpu["jobs"]) == sorted([*JOBS, *doctor.QUERIES])
    failed = {name: check for part in ("kernels", "jobs")
              for name, check in gpu[part].items() if not check["passed"]}
    assert not failed


def test_outputs_compare_as_multisets_of_rows_across_backend_dtypes():
    cpu = pd.DataFrame({
        "code": pd.array([110000, None, 650000], dtype="Int32"),
        "flag": [True, False, True],
        "amount": [1.0, 2.0, 0.1 + 0.2],
        "name": pd.Series(["a", None, "c"], dtype="str"),
    })
    # cuDF's to_pandas: integers with nulls as float64, rows in another order, sums rounded
    # in another order.
    gpu = pd.DataFrame({
        "code": [650000.0, 110000.0, np.nan],
        "flag": [True, True, False],
        "amount": [0.3, 1.0, 2.0],
        "name": pd.Series(["c", "a", None], dtype="object"),
    })
    assert doctor.outputs_difference({"out": cpu}, {"out": gpu}) is None
    worse = gpu.assign(flag=[True, False, False])
    assert doctor.outputs_difference({"out": cpu}, {"out": worse}) == (
        "out.flag: 1 of 3 rows differ"
    )
    assert "2 rows, expected 3" in doctor.outputs_difference({"out": cpu}, {"out": gpu[:2]})

"""The CUDA kernels under the CUDA simulator give exactly the njit kernels' results.

The simulator must be switched on before numba.cuda is first imported, so it runs in a
subprocess of its own and leaves this process (and the njit tests) untouched.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import kernel_cases
import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    path = tmp_path_factory.mktemp("cudasim") / "results.npz"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    subprocess.run(
        [sys.executable, str(HERE / "kernel_cases.py"), str(path)],
        env=env, check=True, timeout=300,
    )
    with np.load(path) as results:
        return dict(results)


def test_simulator_matches_njit(simulated: dict[str, np.ndarray]) -> None:
    host = kernel_cases.compute()
    assert sorted(simulated) == sorted(host)
    for name, expected in host.items():
        np.testing.assert_array_equal(simulated[name], expected, err_msg=name)
        assert simulated[name].dtype == expected.dtype, name


def test_the_simulator_ran_on_device_arrays() -> None:
    code = (
        "import os; from numba import cuda; from kernels._registry import on_device;"
        "print(on_device(cuda.to_device(__import__('numpy').zeros(1))))"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True"

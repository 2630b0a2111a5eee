"""The GPU side of :mod:`kernels._registry`: the only module that imports ``numba.cuda``.

Imported only when an input lives on the device, or by the simulator tests (which set
``NUMBA_ENABLE_CUDASIM=1`` before this import).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from numba import cuda

from kernels._registry import Scratch

THREADS_PER_BLOCK = 128
# A grid-stride loop needs no more blocks than keep the device busy; more only cost launches.
MAX_BLOCKS = 4096


@cuda.jit(device=True)
def first_row() -> int:
    return cuda.grid(1)


@cuda.jit(device=True)
def row_step() -> int:
    return cuda.gridsize(1)


def jit(fn: Callable, device: bool) -> Any:
    """``fn`` as a CUDA device function or kernel."""
    return cuda.jit(device=True)(fn) if device else cuda.jit(fn)


def launch(
    kernel: Any,
    inputs: Sequence[Any],
    outputs: Sequence[tuple[int, type]],
    scratch: Scratch | None,
) -> tuple[Any, ...]:
    """Launch ``kernel`` over ``inputs`` into new device arrays of ``outputs`` (n, dtype)."""
    n = max((size for size, _ in outputs), default=0)
    threads = min(THREADS_PER_BLOCK, max(n, 1))
    blocks = min(MAX_BLOCKS, max(1, math.ceil(n / threads)))
    results = tuple(cuda.device_array(size, dtype) for size, dtype in outputs)
    extra = ()
    if scratch:
        extra = (cuda.device_array((blocks * threads, scratch.width), scratch.dtype),)
    if n:
        kernel[blocks, threads](*inputs, *results, *extra)
    return results

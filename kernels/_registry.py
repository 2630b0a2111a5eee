"""Compile row functions for the CPU and the GPU, and run them where the data lives.

A kernel module writes plain Python over bytes and numbers, in two roles:

- ``@device``: one row (or a helper of one), e.g. ``check_char(chars, start)``;
- ``@kernel``: the grid-stride loop over the rows,
  ``for i in range(first_row(), n, row_step())``, with the inputs, then the outputs,
  then (if it asks for one) a per-thread scratch row as arguments.

Each is compiled lazily, once per target: ``numba.njit(cache=True)`` for the CPU;
``numba.cuda.jit(device=True)`` and ``numba.cuda.jit`` for the GPU (see :mod:`kernels._cuda`,
the only module that imports ``numba.cuda``). A copy of the function gets the globals of
its target: every ``@device`` function it names is replaced by its compiled twin, and
``first_row``/``row_step`` by the target's (0 and 1 on the CPU, ``cuda.grid(1)`` and
``cuda.gridsize(1)`` on the GPU). Only plain global names are rebound, so row code calls
its helpers by name, never as ``module.helper``.

:func:`run` is the one place that decides the target: the GPU when an input is a device
array (cupy, numba device array, or the CUDA simulator's), else the CPU.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

CPU = "cpu"
GPU = "gpu"

_ROLE = "_govgrid_role"
_compiled: dict[tuple[Callable, str], Any] = {}


def device(fn: Callable) -> Callable:
    """Mark ``fn`` as a row function: plain Python, compiled for both targets on first use."""
    setattr(fn, _ROLE, "device")
    return fn


def kernel(fn: Callable) -> Callable:
    """Mark ``fn`` as a grid-stride loop over rows, launched by :func:`run`."""
    setattr(fn, _ROLE, "kernel")
    return fn


def first_row() -> int:
    """The first row this thread handles (0 on the CPU); rebound per target when compiled."""
    return 0


def row_step() -> int:
    """The distance between two rows of one thread (1 on the CPU); rebound per target."""
    return 1


@dataclass(frozen=True)
class Scratch:
    """A per-thread scratch row of ``width`` items of ``dtype``, passed as the last argument."""

    width: int
    dtype: type


def on_device(array: Any) -> bool:
    """True for arrays in GPU memory: cupy, numba device arrays, the CUDA simulator's."""
    return hasattr(array, "__cuda_array_interface__") or bool(
        getattr(array, "__cuda_ndarray__", False)
    )


def run(
    loop: Callable,
    inputs: Sequence[Any],
    outputs: Sequence[tuple[int, type]],
    scratch: Scratch | None = None,
) -> tuple[Any, ...]:
    """Run the ``@kernel`` ``loop`` over ``inputs``; return new arrays of ``outputs`` (n, dtype).

    On the GPU when any input array is on the device, else on the CPU in this thread.
    """
    if getattr(loop, _ROLE, None) != "kernel":
        raise TypeError(f"{loop.__name__} is not a @kernel loop")
    if any(on_device(value) for value in inputs):
        from kernels import _cuda

        return _cuda.launch(compiled(loop, GPU), inputs, outputs, scratch)
    results = tuple(np.empty(n, dtype) for n, dtype in outputs)
    extra = (np.empty((1, scratch.width), scratch.dtype),) if scratch else ()
    compiled(loop, CPU)(*map(_read_only, inputs), *results, *extra)
    return results


def _read_only(value: Any) -> Any:
    """An input array as a read-only view: numba compiles a kernel once per argument type,
    and whether an array is writable is part of its type (a column received from another
    worker lies over read-only bytes, a new numpy array is writable), so every input is
    made read-only, and one compile serves both."""
    if isinstance(value, np.ndarray) and value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


def compiled(fn: Callable, target: str) -> Any:
    """``fn`` compiled for ``target`` ("cpu" or "gpu"), with its row helpers rebound."""
    key = (fn, target)
    if key not in _compiled:
        _compiled[key] = _compile(fn, target)
    return _compiled[key]


def _compile(fn: Callable, target: str) -> Any:
    role = getattr(fn, _ROLE, None)
    if role is None:
        raise TypeError(f"{fn.__name__} is neither @device nor @kernel")
    namespace = dict(fn.__globals__)
    for name in fn.__code__.co_names:
        value = namespace.get(name)
        if getattr(value, _ROLE, None) == "device":
            namespace[name] = compiled(value, target)
    if target == GPU:
        from kernels import _cuda

        namespace.update(first_row=_cuda.first_row, row_step=_cuda.row_step)
        return _cuda.jit(_rebind(fn, namespace), device=role == "device")
    namespace.update(first_row=_cpu_first_row, row_step=_cpu_row_step)
    # No inline="always" for row helpers: numba's IR-level inlining re-types each helper at
    # every call site: the first compile of the test cases took 80 s with it and 9 s without
    # it. LLVM inlines the linked helpers anyway, and the kernels run as fast.
    return numba.njit(cache=True)(_rebind(fn, namespace))


def _rebind(fn: Callable, namespace: dict[str, Any]) -> Callable:
    clone = types.FunctionType(
        fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__
    )
    clone.__qualname__ = fn.__qualname__
    clone.__module__ = fn.__module__
    clone.__doc__ = fn.__doc__
    return clone


_cpu_first_row = numba.njit(cache=True, inline="always")(first_row)
_cpu_row_step = numba.njit(cache=True, inline="always")(row_step)

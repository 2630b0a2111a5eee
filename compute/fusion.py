"""Dask's blockwise fusion over a job's outputs, kept per job and made linear in its size.

Fusion replaces each group of per-partition steps by one ``Fused`` step with
``Expr.substitute``, once per group. Dask remembers there only the steps a substitution left
as they were (dask-expr #835, #836): a step above the replaced one is rebuilt, and its name
tokenized again, once for every path that reaches it. A query whose common table expression
feeds several branches is a graph with many such paths: the integrity job written as SQL
(``examples/sql/jobs/integrity_by_province.sql``, one CTE under six UNION ALL branches)
took 14 s to fuse and 0.6 s to run. :func:`substituted` builds each step once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dask
import dask.dataframe as dd
from dask._expr import Expr
from distributed.collections import LRU


def fused(frames: Sequence[dd.DataFrame]) -> list[dd.DataFrame]:
    """``frames`` optimised together, with Dask's blockwise fusion over all of them.

    ``client.compute`` of a list of collections (of one too) optimises them as one sequence
    and leaves out the fusion there: every read, dtype cast and per-partition step would be a
    task of its own, and a step could run away from the partition it follows. Fused here,
    the steps become one task per partition (the shared steps of several outputs too).
    Fusing costs up to a few tenths of a second, so the result is kept by the frames' names
    (a hash of the table versions, columns and steps): the same job over the same versions
    is fused once per process. Call under ``compute.session.GRAPH_LOCK``.
    """
    from dask._collections import new_collection
    from dask.dataframe.dask_expr._expr import optimize_blockwise_fusion

    if not frames:
        return []
    key = tuple(frame._name for frame in frames)
    if key not in _FUSED:
        sequence = dask.base.collections_to_expr(list(frames)).optimize()
        with _linear_substitution():
            _FUSED[key] = [new_collection(expr)
                           for expr in optimize_blockwise_fusion(sequence).operands]
    return _FUSED[key]


_FUSED: LRU[tuple[str, ...], list[dd.DataFrame]] = LRU(maxsize=16)


def substituted(expr: Expr, old: Expr, new: Expr, done: dict[str, Expr] | None = None
                ) -> Expr:
    """``expr`` with the step ``old`` replaced by ``new``: what ``Expr.substitute`` gives,
    each step visited and rebuilt once (``done``: the result of each step visited, by name).
    """
    done = {} if done is None else done
    known = done.get(expr._name)
    if known is not None:
        return known
    if expr._name == old._name:
        result = new
    else:
        operands, changed = [], False
        for operand in expr.operands:
            if isinstance(operand, Expr):
                value: Any = substituted(operand, old, new, done)
                changed = changed or value._name != operand._name
            elif _is_fused_steps(expr, operand):  # Fused holds its steps in a list
                value = [substituted(step, old, new, done) for step in operand]
                changed = changed or [s._name for s in value] != [s._name for s in operand]
            else:
                value = operand
            operands.append(value)
        result = type(expr)(*operands) if changed else expr
    done[expr._name] = result
    return result


def _is_fused_steps(expr: Expr, operand: Any) -> bool:
    return ("Fused" in type(expr).__name__ and isinstance(operand, list)
            and all(isinstance(step, Expr) for step in operand))


# Dask's own, taken once: a context left by another thread cannot hand back a replacement.
_DASK_SUBSTITUTE = Expr.substitute


def _substitute(self: Expr, old: Any, new: Any) -> Expr:
    if isinstance(old, Expr):
        return substituted(self, old, new)
    return _DASK_SUBSTITUTE(self, old, new)


@contextmanager
def _linear_substitution() -> Iterator[None]:
    """Within: ``Expr.substitute`` of a step (the only kind fusion asks for) is
    :func:`substituted`; of a literal, Dask's own. Both give the same expression, so a
    thread substituting meanwhile gets what it would have."""
    Expr.substitute = _substitute
    try:
        yield
    finally:
        Expr.substitute = _DASK_SUBSTITUTE

"""The fusion of a job's outputs: the graph Dask's own fusion makes, in time linear in its size."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import pandas as pd
from dask.dataframe.dask_expr._expr import optimize_blockwise_fusion

from compute.fusion import fused, substituted


def branches(count: int) -> dd.DataFrame:
    """A step feeding ``count`` filtered branches, put back together: the shape of a CTE
    read by several UNION ALL branches."""
    frame = dd.from_pandas(pd.DataFrame({"x": range(40), "y": range(40)}), npartitions=4)
    shared = frame.assign(z=frame.x * 2)
    shared = shared[shared.y % 3 != 0]
    return dd.concat([shared[shared.z > i].assign(branch=i) for i in range(count)])


def test_fused_outputs_are_dask_own_fusion():
    frame = branches(6)
    with dask.config.set({"optimization.tune.active": False}):
        want = optimize_blockwise_fusion(
            dask.base.collections_to_expr([frame]).optimize()).operands[0]
        got = fused([frame])[0]
    assert got._name == want._name
    assert got.expr.__dask_graph__().keys() == want.__dask_graph__().keys()
    pd.testing.assert_frame_equal(got.compute(), frame.compute())


def test_a_step_reached_by_many_paths_is_substituted_once():
    # x(i + 1) = x(i) + x(i): 2 ** 40 paths from the top to the bottom step, 40 steps.
    leaf = dd.from_pandas(pd.DataFrame({"x": [1, 2]}), npartitions=1).expr
    replacement = (dd.from_pandas(pd.DataFrame({"x": [3, 4]}), npartitions=1) * 1).expr
    top, want = leaf, replacement
    for _ in range(40):
        top, want = top + top, want + want
    done: dict = {}
    assert substituted(top, leaf, replacement, done)._name == want._name
    assert len(done) == 41  # each step once


def test_substituted_equals_dask_substitute_on_a_shared_graph():
    expr = dask.base.collections_to_expr([branches(3)]).optimize()
    old = next(e for e in expr.walk() if type(e).__name__ == "Assign")
    new = old + 1
    assert substituted(expr, old, new)._name == expr.substitute(old, new)._name

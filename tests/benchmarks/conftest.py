"""Fixtures of the benchmark tests: the tiny dataset and one suite run over it."""

from __future__ import annotations

import pytest

from benchmarks.engines import ENGINES
from benchmarks.engines.pandas_plain import PandasEngine
from benchmarks.runner import read_records
from benchmarks.suite import run_suite
from tests.benchmarks.tinydata import write_tiny_dataset


class WrongEngine(PandasEngine):
    """pandas with one deliberate error: rollup counts one person too many everywhere."""

    name = "wrong"

    def rollup(self, params):
        outputs = super().rollup(params)
        population = outputs["population"]
        return {**outputs, "population": population.assign(
            population=population["population"] + 1
        )}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return write_tiny_dataset(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def suite_results(tiny_data, tmp_path_factory):
    """Every engine and the wrong one, once each, results appended to a JSON-lines file."""
    path = tmp_path_factory.mktemp("results") / "results.jsonl"
    run_suite(tiny_data, [*ENGINES, WrongEngine], repeat=1, workers=2, backend="cpu",
              results=path)
    return path, read_records(path)

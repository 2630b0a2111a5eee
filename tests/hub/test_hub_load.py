"""The hub's load benchmark: analysts of four departments at once, each answer checked
against DuckDB over the owner's rows, scoped and masked (benchmarks/hub_load.py)."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from benchmarks import hub_load


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    """One small run: the hub, every answer, and the report's record."""
    root = tmp_path_factory.mktemp("hub-load")
    with hub_load.local_hub(root, scale=0.002) as hub:
        answers, wall = hub_load.run_load(hub, requests=4)
        args = argparse.Namespace(scale=0.002, requests=4, workers=1, threads=2,
                                  processes=False)
        record = hub_load.report(hub, answers, wall, args)
        yield hub, answers, record


def test_every_answer_equals_duckdb_over_the_callers_views(load) -> None:
    _, answers, record = load
    assert record["requests"] == len(hub_load.ANALYSTS) * 4 == len(answers)
    assert record["failed"] == 0 and record["wrong"] == 0
    assert record["audit_ok"] and record["audit_entries"] == record["requests"]
    assert record["requests_per_s"] > 0 and record["p99_s"] >= record["p50_s"] > 0
    asked = {answer.request for answer in answers}
    assert {"job:verify", "job:rollup", "enterprises_by_status"} <= asked


def test_the_statistics_bureau_gets_suppressed_counts_only(load) -> None:
    _, answers, _ = load
    rollups = [a for a in answers if a.request == "job:rollup"]
    assert rollups and all(a.department == "statistics bureau" for a in rollups)
    for answer in rollups:
        population = answer.outputs["population"]
        assert len(population) and population["population"].min() >= 5
        assert ((population["division_code"] == 0)
                | (population["division_code"] // 10_000 == int(answer.province))).all()


def tampered(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with one value of its first row changed: a number by one, else a string."""
    frame = frame.copy()
    first = frame.index[0]
    numbers = [c for c in frame.select_dtypes("number").columns if pd.notna(frame.at[first, c])]
    if numbers:
        frame.loc[first, numbers[-1]] += 1
    else:
        frame[frame.columns[0]] = frame[frame.columns[0]].astype(object)
        frame.loc[first, frame.columns[0]] = "tampered"
    return frame


@pytest.mark.parametrize("request_", ["job:rollup", "job:verify", "people_by_division",
                                      "enterprises_by_status"])
def test_the_oracle_catches_a_wrong_answer(load, request_: str) -> None:
    hub, answers, _ = load
    oracle = hub_load.Oracle(hub)
    answer = next(a for a in answers if a.request == request_)
    assert hub_load.checked(oracle, answer) is None
    for name in answer.outputs:
        if len(answer.outputs[name]):
            wrong = {**answer.outputs, name: tampered(answer.outputs[name])}
            assert hub_load.checked(oracle, hub_load.Answer(
                answer.user, answer.department, answer.purpose, answer.province,
                answer.request, 0.0, wrong)) is not None, name


def test_the_oracle_catches_a_cell_that_should_have_been_suppressed(load) -> None:
    hub, answers, _ = load
    answer = next(a for a in answers if a.request == "job:rollup")
    population = answer.outputs["population"]
    small = population.iloc[[0]].assign(level="county", division_code=int(answer.province)
                                        * 10_000 + 101, population=1)
    leaked = {**answer.outputs, "population": pd.concat([population, small])}
    problem = hub_load.checked(hub_load.Oracle(hub), hub_load.Answer(
        answer.user, answer.department, answer.purpose, answer.province, answer.request, 0.0,
        leaked))
    assert problem is not None and problem.startswith("population")

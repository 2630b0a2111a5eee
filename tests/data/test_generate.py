"""The generator: determinism, independence from the workers, sizes and parameters."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from compute.exceptions import ParameterError
from compute.generate import DefectRates, generate, read_truth
from compute.generate import run as generate_run
from compute.generate._arrays import strings_from_codepoints
from compute.tables import TABLES
from tests.data.conftest import SCALE, SEED, file_contents, read


def test_same_seed_gives_identical_files(data: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", scale=SCALE, seed=SEED)
    assert file_contents(tmp_path / "again") == file_contents(data)


def test_another_seed_gives_other_data(data: Path, tmp_path: Path) -> None:
    generate(tmp_path / "other", scale=SCALE, seed=SEED + 1)
    assert not read(tmp_path / "other", "residents").equals(read(data, "residents"))


@pytest.mark.parametrize("workers", ["one_worker_cluster", "local_cluster"])
def test_cluster_runs_give_the_in_process_data(
    data: Path, tmp_path: Path, workers: str, request: pytest.FixtureRequest
) -> None:
    handle = request.getfixturevalue(workers)
    generate(tmp_path / "data", scale=SCALE, seed=SEED, client=handle.client)
    assert file_contents(tmp_path / "data") == file_contents(data)


def test_every_table_has_a_file_per_chunk(data: Path) -> None:
    for name in TABLES:
        files = sorted(path.name for path in (data / name).glob("*.parquet"))
        assert len(files) == (1 if name == "divisions" else 2), name


def test_proportions(data: Path) -> None:
    residents = read(data, "residents")
    n = len(residents)  # planted registry rows included
    assert n == SCALE * 1_000_000
    assert residents["resident_id"].is_unique
    assert 0.6 < len(read(data, "insured_persons")) / n < 0.8
    assert 0.9 < len(read(data, "medical_insured")) / n < 0.98
    assert 0.08 < len(read(data, "enterprises")) / n < 0.12
    assert 0.02 < len(read(data, "deaths")) / n < 0.08
    contributions = read(data, "contributions")
    assert set(contributions["month"].map(lambda d: (d.year, d.day))) == {(2025, 1)}
    assert 0.3 < contributions["resident_id"].nunique() / n < 0.5
    assert set(read(data, "tax_returns")["year"]) == {2023, 2024}
    deaths = read(data, "deaths")["death_date"]
    assert str(deaths.min()) >= "2020-01-01" and str(deaths.max()) <= "2025-12-31"


def test_populous_provinces_hold_more_people(data: Path) -> None:
    province = read(data, "residents")["division_code"] // 10000
    counts = province.value_counts()
    assert counts.get(44, 0) > 10 * counts.get(54, 0)  # Guangdong, Tibet
    assert counts.get(41, 0) > 5 * counts.get(63, 0)  # Henan, Qinghai


def test_some_eligible_elderly_are_not_enrolled(data: Path) -> None:
    residents = read(data, "residents")
    payments = read(data, "benefit_payments")
    enrolled = set(payments.loc[payments["program"] == "elderly_allowance", "resident_id"])
    deaths = read(data, "deaths")
    dead = deaths.loc[deaths["death_date"].map(lambda d: d.year) < 2025, "resident_id"]
    # Born by 1944: 80 or over throughout 2025; alive at its start (many old people die).
    old = residents[(residents["birth_date"].map(lambda d: d.year) <= 1944)
                    & ~residents["resident_id"].isin(dead)]
    share = old["resident_id"].isin(enrolled).mean()
    assert 0.5 < share < 0.95


def test_planted_counts_follow_the_rates_and_the_scale(tmp_path: Path) -> None:
    rates = DefectRates(**{field.name: 0.02 for field in fields(DefectRates)} | {
        "after_death": 0.01})
    for scale in (0.002, 0.008):
        out = generate(tmp_path / str(scale), scale=scale, rates=rates).root
        counts = read_truth(out).groupby(["table", "kind"]).size()
        for (table, kind), count in counts.items():
            records = len(read(out, table))
            if table == "benefit_payments":  # rates apply to the rightful payments
                records -= counts[table].get("duplicate", 0) + counts[table].get("after_death", 0)
            expected = getattr(rates, kind) * records
            assert abs(count - expected) <= 4 * expected**0.5 + 2, (scale, table, kind)
        # rosters: 8 kinds each; residents 2; deaths, tax returns 1; payments 3
        assert len(counts) == 23


def test_zero_rates_plant_nothing(tmp_path: Path) -> None:
    zero = DefectRates(**{field.name: 0 for field in fields(DefectRates)})
    assert read_truth(generate(tmp_path / "d", scale=0.002, rates=zero).root).empty


@pytest.mark.parametrize("kwargs", [
    {"scale": 0.0001}, {"scale": float("nan")}, {"seed": -1}, {"chunk_size": 10},
])
def test_bad_parameters_are_refused(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        generate(tmp_path / "d", **{"scale": 0.002, **kwargs})
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("kwargs", [
    {"orphan": -0.1}, {"duplicate": 2}, {"invalid_id": 0.3, "orphan": 0.3},
    {"padded_id": 0.3, "legacy_id": 0.3}, {"registry_duplicate": 0.6},
    {"fullwidth_id": float("nan")},
])
def test_bad_rates_are_refused(kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        DefectRates(**kwargs)


def test_existing_directory_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "d"
    out.mkdir()
    with pytest.raises(ParameterError, match="exists"):
        generate(out, scale=0.002)
    generate(out, scale=0.002, overwrite=True)
    assert (out / "catalog.db").is_file()


def test_a_failed_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(spec, out):
        if spec.index == 1:
            raise RuntimeError("disk full")
        return real(spec, out)

    real = generate_run.generate_chunk
    monkeypatch.setattr(generate_run, "generate_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(tmp_path / "d", scale=0.002)
    assert list(tmp_path.iterdir()) == []


def test_strings_from_code_points_of_one_to_three_utf8_bytes() -> None:
    pool = np.array([0x09, 0x20, 0x31, 0x58, 0x7F, 0x80, 0xA0, 0x7FF, 0x800, 0x3000, 0x4E2D,
                     0xFF10, 0xFF38, 0xFF58, 0xFFFF, 0])
    matrix = pool[np.random.default_rng(0).integers(0, len(pool), (500, 6))]
    expected = ["".join(chr(c) for c in row if c) for row in matrix.tolist()]
    assert strings_from_codepoints(matrix).to_pylist() == expected
    assert strings_from_codepoints(matrix[:, :0]).to_pylist() == [""] * 500
    with pytest.raises(ValueError):
        strings_from_codepoints(np.array([[0xD800]]))

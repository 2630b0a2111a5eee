"""Bad parameters fail with their message before any work; failed jobs leave no output."""

from __future__ import annotations

import shutil

import pytest

from compute.cli import main
from compute.exceptions import ParameterError
from compute.jobs import EligibilityParams, IntegrityParams, RollupParams, VerifyParams
from compute.tables import Catalog


@pytest.mark.parametrize("make, message", [
    (lambda: EligibilityParams(program="pension_bonus"), "unknown program 'pension_bonus'"),
    (lambda: EligibilityParams(min_age=-1), "min_age must be a whole number"),
    (lambda: EligibilityParams(max_income=-5), "max_income must not be negative"),
    (lambda: EligibilityParams(reference_date="2025-13-01"), "reference_date must be a date"),
    (lambda: VerifyParams(sources=["tax_returns"]), "unknown source ['tax_returns']"),
    (lambda: VerifyParams(sources=[]), "sources must name at least one roster"),
    (lambda: IntegrityParams(dibao_max_income=-1), "dibao_max_income must not be negative"),
])
def test_bad_parameters_are_refused_with_their_message(make, message):
    with pytest.raises(ParameterError) as err:
        make()
    assert message in str(err.value)


def test_income_year_defaults_to_the_year_before_the_reference_date():
    assert EligibilityParams(reference_date="2025-03-15").income_year == 2024


@pytest.mark.parametrize("params, message", [
    (EligibilityParams(reference_date="2031-06-01"),
     "reference_date 2031-06-01 is outside the data: benefit_payments.month spans"),
    (EligibilityParams(income_year=1999), "income_year 1999 is outside the data"),
    (RollupParams(reference_date="2040-01-01"), "reference_date 2040-01-01 is outside the data"),
])
def test_dates_outside_the_data_are_refused_from_the_footers(dataset, params, message):
    with pytest.raises(ParameterError) as err:
        params.check_data(Catalog.load(dataset))
    assert message in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["run", "eligibility", "--min-age", "-3"], "min_age must be a whole number"),
    (["run", "eligibility", "--program", "lottery"], "unknown program 'lottery'"),
    (["run", "verify", "--sources", "insured_persons,deaths"], "unknown source ['deaths']"),
    (["run", "rollup", "--reference-date", "1850-01-01"], "outside the data"),
])
def test_cli_refuses_bad_parameters_before_starting_a_cluster(dataset, tmp_path, capsys, argv,
                                                              message):
    out = tmp_path / "out"
    # --scheduler points nowhere: reaching it would fail differently, so the check came first.
    code = main([*argv, "--data", str(dataset), "--out", str(out),
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_job_failing_on_the_cluster_leaves_no_output(dataset, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    victim = sorted((broken / "residents").glob("*.parquet"))[0]
    data = bytearray(victim.read_bytes())
    # Scramble the column pages but keep the footer: the catalog and schema checks pass and
    # the job fails only when a worker decodes the data.
    middle = len(data) // 2
    data[64:middle] = bytes(len(data[64:middle]))
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    code = main(["run", "rollup", "--data", str(broken), "--out", str(out),
                 "--backend", "cpu", "--workers", "1"])
    assert code == 2
    assert "job 'rollup' failed" in capsys.readouterr().err
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [broken]  # no temporary directory left behind


def test_cli_runs_a_job_and_writes_each_output(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "rollup", "--data", str(dataset), "--out", str(out),
                 "--backend", "cpu", "--workers", "1"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["enterprises", "population"]
    assert "rollup(reference_date=2025-12-01)" in capsys.readouterr().out
    code = main(["run", "rollup", "--data", str(dataset), "--out", str(out),
                 "--backend", "cpu", "--workers", "1"])
    assert code == 2 and "exists; pass --overwrite" in capsys.readouterr().err

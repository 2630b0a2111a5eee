"""Bad parameters fail with their message before any work; failed jobs leave no output."""

from __future__ import annotations

import re
import shutil

import pyarrow.parquet as pq
import pytest

from compute.cli import main
from compute.exceptions import ParameterError
from compute.jobs import EligibilityParams, IntegrityParams, RollupParams, VerifyParams
from compute.jobs.verify import verify_inputs
from compute.tables import Catalog, Snapshot


@pytest.mark.parametrize("make, message", [
    (lambda: EligibilityParams(program="pension_bonus"), "unknown program 'pension_bonus'"),
    (lambda: EligibilityParams(min_age=-1), "min_age must be a whole number"),
    (lambda: EligibilityParams(max_income=-5), "max_income must not be negative"),
    (lambda: EligibilityParams(reference_date="2025-13-01"), "reference_date must be a date"),
    (lambda: VerifyParams(sources=["a", "a"]), "sources repeat a table: ['a', 'a']"),
    (lambda: VerifyParams(sources=[3]), "sources must be table names"),
    (lambda: IntegrityParams(dibao_max_income=-1), "dibao_max_income must not be negative"),
])
def test_bad_parameters_are_refused_with_their_message(make, message):
    with pytest.raises(ParameterError) as err:
        make()
    assert message in str(err.value)


@pytest.mark.parametrize("make, message", [
    (lambda: EligibilityParams(max_income="30000"), "max_income must be a number, not '30000'"),
    (lambda: EligibilityParams(min_age=True), "min_age must be a whole number, not True"),
    (lambda: EligibilityParams(min_age=80.5), "min_age must be a whole number, not 80.5"),
    (lambda: EligibilityParams(max_income=float("inf")), "max_income must be finite"),
    (lambda: EligibilityParams(income_year=2024.5), "income_year must be a whole number"),
    (lambda: EligibilityParams(program=3), "unknown program 3"),
    (lambda: IntegrityParams(dibao_max_income=float("nan")), "dibao_max_income must be finite"),
    (lambda: IntegrityParams(dibao_max_income=None), "dibao_max_income must be a number"),
    (lambda: RollupParams(reference_date=20251201), "reference_date must be a date"),
])
def test_parameters_of_the_wrong_type_are_refused_naming_them(make, message):
    with pytest.raises(ParameterError, match=re.escape(message)):
        make()


def test_income_year_defaults_to_the_year_before_the_reference_date():
    assert EligibilityParams(reference_date="2025-03-15").income_year == 2024


@pytest.mark.parametrize("params, message", [
    (EligibilityParams(reference_date="2031-06-01"),
     "reference_date 2031-06-01 is outside the data: benefit_payments.month spans"),
    (EligibilityParams(income_year=1999), "income_year 1999 is outside the data"),
    (RollupParams(reference_date="2040-01-01"), "reference_date 2040-01-01 is outside the data"),
])
def test_dates_outside_the_data_are_refused_from_the_delta_statistics(dataset, params, message):
    with pytest.raises(ParameterError) as err:
        params.check_data(Snapshot(Catalog.load(dataset)))
    assert message in str(err.value)


def test_verify_refuses_a_table_that_is_no_source(dataset):
    with pytest.raises(ParameterError, match=r"unknown source 'tax_returns'.*insured_persons"):
        verify_inputs(Snapshot(Catalog.load(dataset)), VerifyParams(sources=["tax_returns"]))


@pytest.mark.parametrize("argv, message", [
    (["run", "eligibility", "--min-age", "-3"], "min_age must be a whole number"),
    (["run", "eligibility", "--program", "lottery"], "unknown program 'lottery'"),
    (["run", "verify", "--sources", "insured_persons,deaths"], "unknown source 'deaths'"),
    (["run", "verify", "--input", "resident_id"], "--input must be ELEMENT=TABLE"),
    (["run", "rollup", "--input", "death_date=pensions"], "holds no column mapped to element "
                                                         "'death_date'"),
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
    error = capsys.readouterr().err
    assert f"job 'rollup' failed: table 'residents', file '{victim}' cannot be read" in error
    assert "Traceback" not in error  # the worker's traceback went to the worker log
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [broken]  # no temporary directory left behind


def test_cli_runs_a_job_and_writes_each_output(dataset, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", "rollup", "--data", str(dataset), "--out", str(out),
                 "--backend", "cpu", "--workers", "1"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["_job.json", "enterprises", "population"]
    assert "rollup(reference_date=2025-12-01)" in capsys.readouterr().out
    code = main(["run", "rollup", "--data", str(dataset), "--out", str(out),
                 "--backend", "cpu", "--workers", "1"])
    assert code == 2 and "exists; pass --overwrite" in capsys.readouterr().err


def test_a_file_missing_the_column_a_date_check_reads_is_named_before_the_check(
    dataset, tmp_path, capsys
):
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    victim = sorted((broken / "deaths").glob("*.parquet"))[0]
    pq.write_table(pq.read_table(victim).drop_columns(["death_date"]), victim)
    out = tmp_path / "out"
    code = main(["run", "rollup", "--data", str(broken), "--out", str(out),
                 "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 2
    error = capsys.readouterr().err
    assert f"table 'deaths': file '{victim}' lacks column 'death_date'" in error
    assert not out.exists()

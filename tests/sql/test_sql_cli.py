"""``govgrid sql``: rows and count, Parquet written whole, EXPLAIN, and refusals before any
cluster starts."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import compute.commands.sql as sql_command
from compute.cli import main
from compute.tables import Catalog
from tests.sql.conftest import write_table


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sqlcli")
    write_table(root, "people", pd.DataFrame({
        "pid": range(10), "division_code": [110101, 110102, 120101, 110101, 130101] * 2,
        "name": [f"n{i}" for i in range(10)]}), parts=2)
    write_table(root, "visits", pd.DataFrame({"pid": [1, 1, 2, 3, 9], "cost": [1.5] * 5}),
                parts=1)
    catalog = Catalog.create(root)
    for table in ("people", "visits"):
        catalog.add(table, root / table, owner="test", sharing="unconditional")
    return root


@pytest.fixture
def no_cluster(monkeypatch):
    """Starting a cluster fails the test: what is checked must come before."""
    def refuse(args):
        raise AssertionError("a cluster was started")
    monkeypatch.setattr(sql_command, "cluster_from_args", refuse)


def test_explain_shows_the_plan_without_a_cluster(data, no_cluster, capsys):
    code = main(["sql", "EXPLAIN SELECT p.division_code, SUM(v.cost) AS cost FROM people p "
                 "JOIN visits v ON v.pid = p.pid GROUP BY 1", "--data", str(data)])
    out = capsys.readouterr().out
    assert code == 0
    assert "plan:" in out and "scan people" in out
    assert "JOIN" in out and ("broadcast" in out or "shuffle" in out)
    assert "partition(s)" in out


def test_explain_option_is_the_same(data, no_cluster, capsys):
    assert main(["sql", "SELECT pid FROM people", "--data", str(data), "--explain"]) == 0
    assert "scan people" in capsys.readouterr().out


@pytest.mark.parametrize("query,message", [
    ("SELECT a FROM people, LATERAL (SELECT 1 AS a) AS l", "unsupported SQL: LATERAL join"),
    ("SELECT nope FROM people", "nope"),
    ("SELECT pid FROM missing", "'missing'"),
    ("SELECT pid FROM", "invalid SQL"),
])
def test_refused_query_exits_2_with_one_line_before_any_cluster(data, no_cluster, capsys,
                                                                query, message):
    assert main(["sql", query, "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("govgrid sql: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_prints_the_first_rows_and_the_count(data, local_cluster, capsys):
    code = main(["sql", "SELECT pid, name FROM people ORDER BY pid", "--data", str(data),
                 "--rows", "3", "--scheduler", local_cluster.client.scheduler.address])
    out = capsys.readouterr().out
    assert code == 0
    assert "n0" in out and "n2" in out and "n3" not in out
    assert "(10 rows) (first 3 shown)" in out


def test_out_writes_the_result_and_the_job_record(data, local_cluster, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sql", "SELECT division_code, COUNT(*) AS n FROM people GROUP BY division_code",
            "--data", str(data), "--out", str(out),
            "--scheduler", local_cluster.client.scheduler.address]
    assert main(argv) == 0
    result = pd.read_parquet(out / "result")
    assert sorted(result["n"].tolist()) == [2, 2, 2, 4]
    record = json.loads((out / "_job.json").read_text())
    assert record["job"] == "sql" and record["rows_out"] == {"result": 4}
    assert "people" in record["versions"]
    capsys.readouterr()
    assert main(argv) == 2  # exists: refused without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0


def test_query_from_a_file(data, no_cluster, tmp_path, capsys):
    path = tmp_path / "q.sql"
    path.write_text("EXPLAIN SELECT pid FROM people WHERE pid > 3")
    assert main(["sql", f"@{path}", "--data", str(data)]) == 0
    assert "filters" in capsys.readouterr().out

"""The govgrid command line keeps working when an optional command's extra is missing."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import compute.cli
from compute.cli import main


class MissingExtra(EntryPoint):
    def load(self):
        raise ModuleNotFoundError("No module named 'matplotlib'")


def test_a_command_whose_extra_is_missing_says_what_to_install(monkeypatch, capsys):
    missing = MissingExtra(name="bench", value="benchmarks.cli:register_bench",
                           group="govgrid.commands")
    monkeypatch.setattr(compute.cli, "entry_points", lambda group: [missing])
    assert main(["bench", "suite", "--data", "x"]) == 2
    err = capsys.readouterr().err
    assert "No module named 'matplotlib'" in err
    assert "pip install 'govgrid[bench]'" in err
    # Every other command still parses and runs its own checks.
    assert main(["catalog", "--data", "/nonexistent/govgrid"]) == 2
    assert "has no catalog (catalog.db)" in capsys.readouterr().err

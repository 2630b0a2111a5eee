"""`govgrid bench` and `govgrid size`: every action takes its options directly, and registering
the commands imports no benchmark, Dask, pandas, pyarrow or numba."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

import benchmarks.cli
from benchmarks.kernels import add_arguments, as_argv
from compute.cli import build_parser, main

ACTIONS = ("suite", "merge", "groupby", "kernels", "scaling", "cli", "memory", "report",
           "quick")
HEAVY = ("dask", "distributed", "pandas", "pyarrow", "numba", "numpy", "matplotlib", "duckdb",
         "polars", "benchmarks.engines.base", "benchmarks.suite", "benchmarks.runner")
# compute/__init__ re-exports the Session API, which imports Dask, and the catalog, doctor and
# hub commands are being made lazy separately: a bare stand-in package, these command modules
# and the benchmarks' entry points measure what the CLI and the bench commands import.
LAZY_COMMANDS = ("compute.commands.cluster_info", "compute.commands.demo",
                 "compute.commands.run", "compute.commands.generate")
LIGHT_REGISTRATION = f"""
import contextlib, importlib.metadata, io, sys, types
package = types.ModuleType("compute")
package.__path__ = [{str(Path(__file__).parents[2] / "compute")!r}]
sys.modules["compute"] = package
import compute.cli
compute.cli.COMMAND_MODULES = {LAZY_COMMANDS!r}
compute.cli.entry_points = lambda group: [
    entry for entry in importlib.metadata.entry_points(group=group)
    if entry.value.startswith("benchmarks.")
]
from compute.cli import build_parser
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    build_parser().parse_args(["--help"])
print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""


def test_kernels_takes_its_options_directly_and_passes_them_on(monkeypatch):
    ran = []
    monkeypatch.setattr(benchmarks.cli.subprocess, "run",
                        lambda command, check: ran.append(command) or
                        subprocess.CompletedProcess(command, 0))
    assert main(["bench", "kernels", "--rows", "2000000", "--pairs", "5000",
                 "--results", "out/k.jsonl"]) == 0
    (command,) = ran
    assert command[:5] == [sys.executable, "-m", "benchmarks.kernels", "--json", "out/k.jsonl"]
    passed = command[5:]
    assert passed[passed.index("--rows") + 1] == "2000000"
    assert passed[passed.index("--pairs") + 1] == "5000"
    # The benchmark's own parser reads back exactly the values govgrid parsed.
    own = argparse.ArgumentParser()
    add_arguments(own)
    args = own.parse_args(passed)
    assert (args.rows, args.pairs, args.repeats) == (2_000_000, 5000, 3)
    assert as_argv(args) == passed


@pytest.mark.parametrize("action", ACTIONS)
def test_every_bench_action_lists_its_options(action, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["bench", action, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: govgrid bench {action}" in text
    assert "\n  --" in text  # an option of its own, after -h, --help


def test_unknown_options_are_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "kernels", "--rowz", "5"])
    assert "unrecognized arguments: --rowz" in capsys.readouterr().err


def test_registering_the_commands_imports_nothing_heavy():
    imported = subprocess.run([sys.executable, "-c", LIGHT_REGISTRATION], capture_output=True,
                              text=True, check=True).stdout.strip()
    assert imported == ""

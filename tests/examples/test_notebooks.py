"""The example notebooks run top to bottom in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_quickstart_runs_and_shows_a_table_and_a_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVGRID_DATA", str(tmp_path / "data"))
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    kinds = {key for out in outputs for key in out.get("data", {})}
    assert "text/html" in kinds  # the summary table
    assert "image/png" in kinds  # the plot
    text = "".join(out.get("text", "") for out in outputs)
    assert "residents" in text and "verify(sources=" in text

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


def test_hub_notebook_runs_an_analysts_session_against_a_live_hub(tmp_path, monkeypatch):
    from benchmarks.hub_load import local_hub

    with local_hub(tmp_path, scale=0.002) as hub:
        token = hub.token("wang.li", "civil affairs", "elderly-allowance-2026", "11")
        monkeypatch.setenv("GOVGRID_HUB_URL", hub.url)
        monkeypatch.setenv("GOVGRID_HUB_TOKEN", token)
        monkeypatch.setenv("GOVGRID_HUB_CA", str(hub.ca))
        notebook = nbformat.read(EXAMPLES / "hub.ipynb", as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        entries = [line for path in hub.audit_dir.glob("audit-*.jsonl")
                   for line in path.read_text().splitlines() if '"type":"entry"' in line]
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert "text/html" in {key for out in outputs for key in out.get("data", {})}
    text = "".join(out.get("text", "") for out in outputs)
    assert "verify(sources=['insured_persons'])" in text and "denied:" in text
    assert "tax_returns" in text
    assert len(entries) == 5  # the catalog, two queries, the job and the denial

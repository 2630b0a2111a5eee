"""What a job run returns: its outputs as pandas DataFrames, and figures about the run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from compute.staging import staged_directory


@dataclass
class JobResult:
    """Outputs of one job run (pandas, whatever the backend) and how the run went.

    ``rows_read`` counts the rows of every table the job scanned and ``versions`` gives the
    version of each it read (so a decision can be traced to its data), ``timings`` the wall time
    of each stage in seconds (plan: graph optimisation and submission; compute: until the
    outputs are back), ``task_seconds`` the busy time of each task group summed over the
    workers (where the time goes), ``plan`` the join strategies chosen.
    """

    job: str
    params: dict[str, object]
    outputs: dict[str, pd.DataFrame]
    rows_read: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    task_seconds: dict[str, float] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    spilled_bytes: int | None = None  # written to disk by the workers' spill buffers

    def __getitem__(self, output: str) -> pd.DataFrame:
        return self.outputs[output]

    @property
    def rows_out(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.outputs.items()}

    @property
    def wall_time(self) -> float:
        return sum(self.timings.values())

    def summary(self) -> str:
        """A few lines for a terminal: parameters, rows in and out, time per stage, plan."""
        params = ", ".join(f"{k}={v}" for k, v in self.params.items())
        lines = [f"{self.job}({params})"]
        lines.append("  read    " + ", ".join(
            f"{t} v{self.versions.get(t, '?')} {n:,}" for t, n in self.rows_read.items()))
        lines.append("  out     " + ", ".join(f"{o} {n:,}" for o, n in self.rows_out.items()))
        lines.append("  time    " + ", ".join(f"{s} {t:.2f}s" for s, t in self.timings.items()))
        busiest = list(self.task_seconds.items())[:4]
        lines.append("  busy    " + ", ".join(f"{g} {t:.2f}s" for g, t in busiest))
        if self.spilled_bytes is not None:
            lines.append(f"  spilled {self.spilled_bytes / 2**20:,.1f} MiB to disk")
        lines += [f"  join    {choice}" for choice in self.plan]
        return "\n".join(lines)

    def record(self) -> dict[str, object]:
        """What ``_job.json`` holds: the job, its parameters, the table versions it read,
        rows in and out, timings and plan."""
        return {
            "job": self.job,
            "params": {k: v if isinstance(v, (int, float, str, type(None))) else str(v)
                       for k, v in self.params.items()},
            "versions": self.versions,
            "rows_read": self.rows_read,
            "rows_out": self.rows_out,
            "timings": self.timings,
            "plan": self.plan,
            "spilled_bytes": self.spilled_bytes,
        }

    def write(self, out: str | os.PathLike[str], overwrite: bool = False) -> Path:
        """Write each output as a Parquet dataset ``out/<output>/``, and ``out/_job.json``.

        Everything goes to a temporary directory beside ``out`` first and is renamed into
        place when complete, so ``out`` is either whole or absent.
        """
        return write_outputs(self.outputs, out, overwrite=overwrite, record=self.record())


def write_outputs(
    outputs: dict[str, pd.DataFrame], out: str | os.PathLike[str], overwrite: bool = False,
    record: dict[str, object] | None = None,
) -> Path:
    """Write DataFrames as ``out/<name>/part-0.parquet`` (and ``record`` as ``_job.json``),
    all or nothing."""
    with staged_directory(out, overwrite=overwrite) as staging:
        for name, frame in outputs.items():
            (staging / name).mkdir()
            frame.to_parquet(staging / name / "part-0.parquet", index=False)
        if record is not None:
            (staging / "_job.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    return Path(out)

"""verify: multi-source verification of department rosters against the resident registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import dask.dataframe as dd
import pandas as pd

import kernels
from compute.jobs._frames import (
    KEY,
    join_unique,
    province_of,
    sorted_small,
    unpivot_flags,
    with_resident_key,
)
from compute.jobs.base import Job, Params, require
from compute.planner import choose
from compute.tables.contract import ROSTERS

if TYPE_CHECKING:
    from compute.session import Session

KINDS = ("invalid_id", "orphan", "name_mismatch", "birth_mismatch")


@dataclass(frozen=True)
class VerifyParams(Params):
    sources: tuple[str, ...] = ROSTERS

    help: ClassVar[dict[str, str]] = {"sources": f"rosters to verify, of {', '.join(ROSTERS)}"}

    def __post_init__(self) -> None:
        sources = (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)
        object.__setattr__(self, "sources", sources)
        require(len(sources) > 0, "sources must name at least one roster")
        unknown = [s for s in sources if s not in ROSTERS]
        require(not unknown, f"unknown source {unknown}; the rosters are {list(ROSTERS)}")
        require(len(set(sources)) == len(sources), f"sources repeat a roster: {list(sources)}")


def verify(session: Session, params: VerifyParams | None = None, **kwargs) -> Job:
    """Check each roster record against the registry: invalid_id, orphan, name and birth mismatch.

    Outputs ``conflicts`` (source, resident_id, kind, similarity) and ``summary`` per source
    and province of the record's own division code.
    """
    params = params or VerifyParams(**kwargs)
    registry_columns = ["resident_id", "name", "birth_date"]
    choice = choose("registry", session.estimate_bytes("residents", registry_columns))
    registry = (
        with_resident_key(session.table("residents", columns=registry_columns))
        .rename(columns={"name": "registry_name", "birth_date": "registry_birth_date"})
        .drop(columns="resident_id")
    )
    checked = dd.concat([
        join_unique(
            with_resident_key(session.table(source, columns=[*registry_columns, "division_code"])),
            registry, choice, flag="in_registry",
        ).map_partitions(classify, source)
        for source in params.sources
    ])
    conflicts = checked.map_partitions(conflict_rows)
    summary = (
        checked.groupby(["source", "province_code"])[["records", *KINDS, "agreeing"]]
        .sum(split_out=1)
        .reset_index()
    )
    summary = summary.assign(agreement_rate=summary.agreeing / summary.records).drop(
        columns="agreeing"
    )
    summary = sorted_small(summary, ["source", "province_code"])
    return Job(
        "verify", params,
        outputs={"conflicts": conflicts, "summary": summary},
        tables=("residents", *params.sources),
        plan=[choice],
    )


def classify(records: pd.DataFrame, source: str) -> pd.DataFrame:
    """One row per record: a flag per kind of conflict, and the names' similarity.

    Runs on pandas or cuDF partitions alike.
    """
    valid = records[KEY] != -1
    in_registry = records["in_registry"]
    matched = valid & in_registry
    name_mismatch = matched & (records["name"] != records["registry_name"])
    birth_mismatch = matched & (records["birth_date"] != records["registry_birth_date"])
    similarity = kernels.jaro_winkler(records["name"], records["registry_name"])
    return records.assign(
        source=source,
        province_code=province_of(records["division_code"]),
        invalid_id=~valid,
        orphan=valid & ~in_registry,
        name_mismatch=name_mismatch,
        birth_mismatch=birth_mismatch,
        similarity=similarity.where(name_mismatch),
        records=1,
        agreeing=matched & ~name_mismatch & ~birth_mismatch,
    )[["source", "resident_id", "province_code", *KINDS, "similarity", "records", "agreeing"]]


def conflict_rows(checked: pd.DataFrame) -> pd.DataFrame:
    """One row per conflict per record; similarity only on name_mismatch rows."""
    rows = unpivot_flags(checked, KINDS, ["source", "resident_id", "similarity"], "kind")
    similarity = rows["similarity"].where(rows["kind"] == "name_mismatch")
    return rows.assign(similarity=similarity)[["source", "resident_id", "kind", "similarity"]]

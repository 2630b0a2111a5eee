"""verify: multi-source verification of every table holding person data against its authority.

"One number, one source": each person element (name, sex, birth date, division code, death
date) has one authoritative table in the catalog. Every other table holding ``resident_id``
and one or more of those elements is a source; each of its records is checked against the
authorities, whatever its columns are called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import dask.dataframe as dd
import pandas as pd

import kernels
from compute.exceptions import ParameterError
from compute.jobs._frames import (
    KEY,
    KEY_ROW_BYTES,
    join_unique,
    known,
    province_of,
    registry_issues,
    registry_repeated_keys,
    resident_keys,
    sorted_small,
    unique_registry,
    unpivot_flags,
    with_normalised_id,
    with_resident_key,
)
from compute.jobs.base import Job, Params, check_inputs, prepare, require
from compute.planner import choose
from compute.tables import ELEMENTS, Snapshot

if TYPE_CHECKING:
    from compute.session import Session

# The kinds every source can have; each checked element adds "<element>_mismatch", but for
# these two, which keep their historic names and come first.
BASE_KINDS = ("invalid_id", "orphan")
KIND_NAMES = {"person_name": "name_mismatch", "birth_date": "birth_mismatch"}
PERSON_ELEMENTS = tuple(sorted((name for name, e in ELEMENTS.items() if e.person),
                               key=lambda name: name not in KIND_NAMES))


def mismatch_kind(element_name: str) -> str:
    return KIND_NAMES.get(element_name, f"{element_name}_mismatch")


@dataclass(frozen=True)
class VerifyParams(Params):
    sources: tuple[str, ...] = ()

    help: ClassVar[dict[str, str]] = {
        "sources": "tables to verify (default: every table holding resident_id and a person "
                   "element that has an authoritative source)",
    }

    def __post_init__(self) -> None:
        sources = (self.sources,) if isinstance(self.sources, str) else tuple(self.sources)
        object.__setattr__(self, "sources", sources)
        require(all(isinstance(s, str) and s for s in sources),
                f"sources must be table names, not {list(sources)!r}")
        require(len(set(sources)) == len(sources), f"sources repeat a table: {list(sources)}")


@dataclass(frozen=True)
class Check:
    """One source and the elements it is checked on, each with its authority."""

    table: str
    elements: dict[str, str]  # element -> authoritative table


@dataclass(frozen=True)
class VerifyPlan:
    registry: str  # the authority of resident_id: an ID absent there is an orphan
    checks: tuple[Check, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        checked = {e for check in self.checks for e in check.elements}
        return (*BASE_KINDS, *(mismatch_kind(e) for e in PERSON_ELEMENTS if e in checked))


def plan_verify(snapshot: Snapshot, params: VerifyParams) -> VerifyPlan:
    """The sources to verify and their authorities, from the catalog alone."""
    registry = snapshot.source_of("resident_id")
    authorities = snapshot.catalog.authorities()
    checks = {}
    for table, held in snapshot.catalog.elements_beside("resident_id", PERSON_ELEMENTS).items():
        elements = {e: authorities[e] for e in held if authorities.get(e) not in (None, table)}
        if elements and table != registry:
            checks[table] = Check(table, elements)
    for source in params.sources:
        if source not in checks:
            snapshot.entry(source)  # an unknown table is a CatalogError naming it
            raise ParameterError(
                f"unknown source {source!r}: it holds no resident_id and person element "
                f"({', '.join(PERSON_ELEMENTS)}) whose authority is another table; the sources "
                f"are {', '.join(checks) or 'none'}"
            )
    chosen = params.sources or tuple(checks)
    if not chosen:
        raise ParameterError("no table to verify: none holds resident_id and a person element "
                             "whose authoritative source is another table")
    return VerifyPlan(registry, tuple(checks[name] for name in chosen))


def verify_inputs(snapshot: Snapshot, params: VerifyParams) -> dict[str, str]:
    """The tables verify reads: the registry, each source and the other authorities."""
    plan = plan_verify(snapshot, params)
    tables = {"registry": plan.registry}
    for check in plan.checks:
        tables[f"source {check.table}"] = check.table
        for element_name, authority in check.elements.items():
            tables[f"authority of {element_name}"] = authority
    return check_inputs(snapshot, params, tables)


def verify(
    session: Session, params: VerifyParams | None = None, as_of=None, inputs=None, **kwargs
) -> Job:
    """Check each source record against the authorities: invalid_id, orphan, and a mismatch
    per checked element (name_mismatch, birth_mismatch, <element>_mismatch).

    IDs match after normalisation (kernels.normalise_resident_id); an ID invalid after it
    matches nothing. The registry (resident_id's authority) and every other authority count
    one row per ID (see ``unique_registry``).
    Outputs ``conflicts`` (source, resident_id as held, normalised_id, kind, similarity of
    the names on name_mismatch), ``summary`` per source and province of the record's own
    division code (of its ID when the source has none): records, each kind's count,
    agreement_rate; and ``registry_issues``: the registry's repeated and invalid IDs
    (resident_id, normalised_id, issue, rows).
    """
    params, snapshot = prepare(session, VerifyParams, params, as_of, inputs, kwargs)
    verify_inputs(snapshot, params)
    plan = plan_verify(snapshot, params)
    kinds = plan.kinds
    choices, sides, repeated = [], {}, {}

    def repeated_in(table: str):
        if table not in repeated:
            choice = choose(f"{table} keys", snapshot.rows(table) * KEY_ROW_BYTES)
            repeated[table] = registry_repeated_keys(session, snapshot, table, choice,
                                                     "verify")
        return repeated[table]

    for authority in dict.fromkeys(a for check in plan.checks for a in check.elements.values()):
        wanted = sorted({e for check in plan.checks for e, a in check.elements.items()
                         if a == authority}, key=PERSON_ELEMENTS.index)
        choice = choose(authority, snapshot.estimate_bytes(
            authority, [snapshot.column_of(authority, e) for e in ["resident_id", *wanted]]))
        side = unique_registry(
            with_resident_key(snapshot.elements(authority, ["resident_id", *wanted])), choice,
            repeated_in(authority),
        )
        sides[authority] = (side[[KEY, *wanted]].rename(
            columns={e: f"authority_{e}" for e in wanted}), choice)
        choices.append(choice)
    if plan.registry not in sides:
        choice = choose(plan.registry, snapshot.estimate_bytes(
            plan.registry, [snapshot.column_of(plan.registry, "resident_id")]))
        side = unique_registry(resident_keys(snapshot, plan.registry), choice,
                               repeated_in(plan.registry))
        sides[plan.registry] = (side[[KEY]], choice)
        choices.append(choice)

    checked = []
    for check in plan.checks:
        holds_division = snapshot.entry(check.table).column_of("division_code") is not None
        read = ["resident_id", *check.elements]
        if holds_division and "division_code" not in read:
            read.append("division_code")
        records = with_resident_key(snapshot.elements(check.table, read))
        for authority in dict.fromkeys(check.elements.values()):
            side, choice = sides[authority]
            wanted = [f"authority_{e}" for e, a in check.elements.items() if a == authority]
            records = join_unique(records, side[[KEY, *wanted]], choice,
                                  flag="in_registry" if authority == plan.registry else None)
        if plan.registry not in check.elements.values():
            side, choice = sides[plan.registry]
            records = join_unique(records, side[[KEY]], choice, flag="in_registry")
        checked.append(records.map_partitions(
            classify, check.table, tuple(check.elements), kinds, holds_division,
        ))
    checked = dd.concat(checked)
    conflicts = checked.map_partitions(conflict_rows, kinds)
    issues = registry_issues(session, snapshot, plan.registry,
                             repeated_in(plan.registry), "verify")
    summary = (
        checked.groupby(["source", "province_code"])[["records", *kinds, "agreeing"]]
        .sum(split_out=1)
        .reset_index()
    )
    summary = summary.assign(agreement_rate=summary.agreeing / summary.records).drop(
        columns="agreeing"
    )
    summary = sorted_small(summary, ["source", "province_code"])
    return Job(
        "verify", params,
        outputs={"conflicts": conflicts, "summary": summary, "registry_issues": issues},
        snapshot=snapshot,
        plan=choices,
    )


def classify(
    records: pd.DataFrame, source: str, elements: tuple[str, ...], kinds: tuple[str, ...],
    holds_division: bool,
) -> pd.DataFrame:
    """One row per record: a flag per kind of conflict, and the names' similarity.

    Values are compared as SQL's IS DISTINCT FROM (two nulls agree). Runs on pandas or cuDF
    partitions alike.
    """
    valid = records[KEY] != -1
    matched = valid & records["in_registry"]
    flags = {"invalid_id": ~valid, "orphan": valid & ~records["in_registry"]}
    for kind in kinds[len(BASE_KINDS):]:
        flags[kind] = matched & False
    for element_name in elements:
        ours, theirs = records[element_name], records[f"authority_{element_name}"]
        differs = ~known(ours == theirs) & (ours.notna() | theirs.notna())
        flags[mismatch_kind(element_name)] = matched & differs
    # All null, as a float column of the partition's own backend; then the names'
    # similarity where they differ (a few percent of the rows), by position.
    similarity = records[KEY].astype("float64").where(valid & ~valid)
    if "person_name" in elements:
        differ = flags["name_mismatch"]
        similarity[differ] = kernels.jaro_winkler(
            records["person_name"][differ], records["authority_person_name"][differ]).values
    conflict = flags["invalid_id"] | flags["orphan"]
    for kind in kinds[len(BASE_KINDS):]:
        conflict = conflict | flags[kind]
    if holds_division:
        province = province_of(records["division_code"])
    else:
        # The ID's own province: the first two of the 17 packed digits.
        province = (records[KEY] // 10**15 * 10000).where(valid).astype("Int32")
    return records.assign(
        source=source,
        province_code=province,
        **flags,
        similarity=similarity,
        records=1,
        agreeing=~conflict,
    )[["source", "resident_id", "province_code", *kinds, "similarity", "records", "agreeing"]]


def conflict_rows(checked: pd.DataFrame, kinds: tuple[str, ...]) -> pd.DataFrame:
    """One row per conflict per record, the ID as held and normalised; similarity only on
    name_mismatch rows."""
    rows = unpivot_flags(checked, kinds, ["source", "resident_id", "similarity"], "kind")
    similarity = rows["similarity"].where(rows["kind"] == "name_mismatch")
    return with_normalised_id(rows.assign(similarity=similarity))[
        ["source", "resident_id", "normalised_id", "kind", "similarity"]]

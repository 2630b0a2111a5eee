"""Every base table a governed request reads, replaced by the caller's view of it.

A :class:`GovernedSnapshot` is a :class:`~compute.tables.Snapshot` whose tables are what the
policy lets one caller see, for one purpose, decided at one moment. Jobs and SQL read through
it exactly as they read through a plain snapshot (``table``, ``elements``, ``schema``,
``element``, ``rows``, ``scan``), so "same engine, fewer rights" holds by construction:

- only the readable columns exist (``schema``, ``entry(...).columns``, elements); naming any
  other column is refused, so ``SELECT *`` expands to the view's columns only;
- the row scope goes into the Parquet read where the scope column allows (a division code:
  ``[P*10000, P*10000+9999]``) and is applied again per partition (a resident ID: its first
  two characters, :func:`hub.masks.scope_rows`);
- masks run per partition, on the workers, right after the read
  (:func:`hub.masks.apply_decision`): nothing downstream sees a raw value of a masked column;
- a filter pushed into the read (the SQL layer's simple predicates, a job's filters) reaches
  the Parquet read only when its column is unmasked there, where raw and view values are the
  same; on a masked column it is evaluated on the masked values, after the masks. A predicate
  on a raw ID therefore never selects rows by the raw ID;
- a masked identifier whose mask destroys it (``partial``, ``null``) has element None, so it
  no longer joins as an identifier; a pseudonymised one keeps its element (a pseudonym is a
  valid ID, and one purpose's pseudonyms join across tables). Other masked columns keep
  their element (a null ``sex`` is still the sex column, of unknown values), so jobs bound
  to it still run and see only the masked values.

An aggregate grant (``jobs: [rollup]``, ``min_cell``; see :mod:`hub.policy`) is reached only
through :meth:`GovernedSession.build`, which decides every table for the one built-in job it
builds: the job reads the grant's personal columns unmasked, its outputs are only the counts
that job publishes (:data:`AGGREGATE_OUTPUTS`), and cells counting fewer than ``min_cell``
people are suppressed (:func:`hub.masks.suppress_small_cells`) before anything leaves. The
snapshot such a job read is sealed once the job is built: it reads no table again. SQL, a
table read, the catalog and every other job are decided without the job, so the aggregate
grant never matches them.

Touching a table the policy denies raises :class:`~hub.exceptions.AccessDenied` naming the
table and the reason. ``decisions`` holds the decision of every table touched (denials
included) and ``accesses`` what each read took, for the audit; :meth:`GovernedSnapshot.recheck`
decides them all again (the server does so when results are fetched).

    session = GovernedSession(Session(catalog, cluster), policy, identity, "allowance-2026",
                              now, secret)
    job = session.sql_job("SELECT division_code, COUNT(*) FROM residents GROUP BY 1")
    job.snapshot.decisions["residents"].masks
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pyarrow as pa

from compute.exceptions import CatalogError
from compute.jobs.base import Job, Params
from compute.session import Session
from compute.tables.catalog import Catalog, ColumnEntry, TableEntry
from compute.tables.delta import Version
from compute.tables.elements import ELEMENTS
from compute.tables.read import Filter, Filters, read_version
from compute.tables.snapshot import Snapshot
from hub.exceptions import AccessDenied
from hub.masks import apply_decision, suppress_small_cells
from hub.policy import Caller, ColumnInfo, Decision, Policy, Principal, TableInfo
from kernels.pseudonym import MIN_SECRET_BYTES, purpose_key

# Masks after which a column no longer holds its element's values.
DESTROYING = ("partial", "null")
# Masks whose values are strings whatever the column held.
AS_STRING = ("partial", "pseudonym", "surname")
PROVINCE_SPAN = 10_000


@dataclass(frozen=True)
class Cells:
    """One output of an aggregate job: ``count`` people (or units) per ``keys`` within the
    roll-up's level and division, computed from the tables of the job's input ``roles``."""

    count: str
    keys: tuple[str, ...]
    roles: tuple[str, ...]


# What each job an aggregate grant may list (hub.policy.AGGREGATE_JOBS) returns: every output
# and the cells it counts. An output computed from a table whose decision opens a personal
# column unmasked is suppressed below min_cell; one computed from public columns only (the
# enterprises by status) is what any department reads anyway and leaves unchanged. A job
# output not listed here is refused.
AGGREGATE_OUTPUTS: dict[str, dict[str, Cells]] = {
    "rollup": {
        "population": Cells("population", ("sex", "age_band"), ("registry", "deaths")),
        "enterprises": Cells("enterprises", ("status",), ("enterprises",)),
    },
}


@dataclass(frozen=True)
class Access:
    """One read of a table through the view: the columns it returned (``projected``) and the
    columns of its pushed filters (``filtered``).

    The SQL layer asks a scan for every column its SELECT scope uses (output, WHERE, JOIN,
    GROUP BY alike), so for SQL ``projected`` is a superset of the output and ``filtered``
    names only the columns of the simple predicates pushed into the scan; which columns a
    query used *only* in filters is not told apart.
    """

    table: str
    projected: tuple[str, ...]
    filtered: tuple[str, ...]


def request_caller(caller: Principal, purpose: str | None) -> Caller:
    """The caller as the policy sees one request: department and province from the verified
    identity, the purpose the request states (else the token's). A token bound to a purpose
    cannot be used for another one: AccessDenied."""
    bound = getattr(caller, "purpose", None)
    if purpose is not None and bound is not None and purpose != bound:
        raise AccessDenied(f"the token is for purpose {bound!r}; the request states {purpose!r}")
    return Caller(caller.department, caller.province, purpose if purpose is not None else bound)


def table_info(entry: TableEntry) -> TableInfo:
    """What a decision needs of a catalog entry."""
    return TableInfo(entry.name, entry.owner, entry.sharing, tuple(
        ColumnInfo(c.name, c.sensitivity, c.element) for c in entry.columns))


def view_type(stored: pa.DataType, mask: str) -> pa.DataType:
    """The Arrow type a column stored as ``stored`` has in a view under ``mask``."""
    if mask in AS_STRING:
        return pa.string()
    if mask == "null" and pa.types.is_integer(stored):
        return pa.float64()  # pandas holds a null integer column as float
    return stored


def view_entry(entry: TableEntry, decision: Decision) -> TableEntry:
    """``entry`` as the decision lets its caller see it: readable columns only, a destroyed
    identifier without its element, types as the masks leave them."""
    columns = []
    for column in entry.columns:
        if column.name not in decision.columns:
            continue
        mask = decision.masks.get(column.name, "none")
        element = None if mask in DESTROYING and _identifier(column.element) else column.element
        dtype = column.dtype if mask == "none" else str(view_type(_arrow(column.dtype), mask))
        columns.append(ColumnEntry(column.name, dtype, element, column.sensitivity))
    return dataclasses.replace(entry, columns=tuple(columns))


class GovernedSnapshot(Snapshot):
    """A snapshot whose every table is ``caller``'s view of it under ``policy`` at ``now``.

    Make one with :func:`governed_snapshot`. ``decisions`` maps every table touched to its
    :class:`~hub.policy.Decision`; ``accesses`` lists every read (:class:`Access`).
    """

    def __init__(
        self,
        catalog: Catalog,
        policy: Policy,
        caller: Caller,
        now: dt.datetime,
        secret: bytes,
        as_of: Any = None,
        partitions: Any = None,
        inputs: Mapping[str, str] | None = None,
        job: str | None = None,
    ) -> None:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the hub secret must be at least {MIN_SECRET_BYTES} bytes")
        super().__init__(catalog, as_of, partitions, inputs)
        # The built-in job these views are decided for (None: SQL and reads); set only by
        # GovernedSession.build, and the snapshot is sealed once that job is built.
        self.job = job
        self.sealed = False
        self.base_catalog = catalog
        self.catalog = CatalogView(self)  # what jobs see of the catalog (readable tables)
        self.policy = policy
        self.caller = caller
        self.now = now
        self._secret = secret
        self.decisions: dict[str, Decision] = {}
        self.accesses: list[Access] = []
        self._raw: dict[str, TableEntry] = {}
        self._views: dict[str, TableEntry] = {}

    # --- the decision -------------------------------------------------------------------

    def decision(self, name: str) -> Decision:
        """The decision for table ``name`` (taken at first touch); a denial raises
        AccessDenied naming the table and the reason, and is recorded all the same."""
        if name not in self.decisions:
            self.decisions[name] = self.policy.decide(
                self.caller, table_info(self._raw_entry(name)), self.now, self.job)
        decision = self.decisions[name]
        if not decision.allowed:
            raise AccessDenied(f"access to table {name!r} denied: {decision.reason}")
        return decision

    def readable(self, name: str) -> bool:
        """Whether the caller may read table ``name`` (without recording anything)."""
        if name in self.decisions:
            return self.decisions[name].allowed
        entry = self.base_catalog.table(name)
        return self.policy.decide(self.caller, table_info(entry), self.now, self.job).allowed

    def recheck(self, now: dt.datetime, policy: Policy | None = None) -> dict[str, Decision]:
        """Decide every table this snapshot touched again, at ``now`` (under ``policy`` when
        given, e.g. a reloaded file; the catalog as it is now). AccessDenied unless every
        table is still readable exactly as it was: same columns, masks, scope and purpose."""
        policy = policy or self.policy
        fresh = {}
        for name, before in self.decisions.items():
            after = policy.decide(self.caller, table_info(self.base_catalog.table(name)), now,
                                  self.job)
            fresh[name] = after
            if not after.allowed:
                raise AccessDenied(f"access to table {name!r} denied at {now.isoformat()}: "
                                   f"{after.reason}")
            if before.allowed and _terms(before) != _terms(after):
                raise AccessDenied(
                    f"access to table {name!r} changed since the request was decided "
                    f"({before.reason} -> {after.reason}); run the request again")
        return fresh

    # --- what the view looks like -------------------------------------------------------

    def _raw_entry(self, name: str) -> TableEntry:
        if name not in self._raw:
            if name not in self.base_catalog:
                # The plain catalog's message lists every table; the caller sees none of them.
                raise CatalogError(f"the catalog has no table {name!r}")
            self._raw[name] = self.base_catalog.table(name)
        return self._raw[name]

    def entry(self, name: str) -> TableEntry:
        """The view's entry: readable columns only, with the elements and types they keep."""
        decision = self.decision(name)
        if name not in self._views:
            self._views[name] = view_entry(self._raw_entry(name), decision)
        return self._views[name]

    def version(self, name: str) -> Version:
        self.decision(name)
        return super().version(name)

    def schema(self, name: str) -> pa.Schema:
        """The view's columns and the Arrow types they have after their masks."""
        decision = self.decision(name)
        stored = super().version(name).schema
        return pa.schema([
            pa.field(column, view_type(stored.field(column).type, decision.masks[column]))
            for column in decision.columns])

    def rows(self, name: str) -> int:
        """The table's rows at the version read: an upper bound of the view's (a scope is
        applied while reading), for planning."""
        self.decision(name)
        return super().rows(name)

    def column_range(self, name: str, column: str) -> tuple[Any, Any]:
        """The range of an unmasked column (from the Delta log, over the whole table) or of a
        date generalised to its year; any other masked column is AccessDenied. A personal
        column an aggregate grant unmasks gives its range in whole years only (1 January of
        the first, 31 December of the last): its extremes are one person's values."""
        decision = self.decision(name)
        decision.require([column])
        mask = decision.masks[column]
        if mask == "none" and decision.aggregate and self._personal(name, column):
            low, high = super().column_range(name, column)
            if not isinstance(low, dt.date):
                raise AccessDenied(f"table {name!r}: column {column!r} is personal; under an "
                                   "aggregate grant its range is not readable")
            return _year_start(low), _year_end(high)
        if mask == "none":
            return super().column_range(name, column)
        if mask in ("birth_year", "death_year"):
            low, high = super().column_range(name, column)
            return _year_start(low), _year_start(high)
        raise AccessDenied(f"table {name!r}: column {column!r} is masked ({mask}); its range "
                           "is not readable")

    def distinct(self, name: str, column: str) -> int:
        """The estimate of the values the view shows, never of the raw ones (EXPLAIN prints
        it): an unmasked column's as the catalog's (a range by :meth:`column_range`'s
        rules); a column masked to NULL, one; to its year, the years of its range; under
        any other mask, the table's rows, an upper bound that reads nothing."""
        decision = self.decision(name)
        decision.require([column])
        mask = decision.masks[column]
        if mask == "none":
            return super().distinct(name, column)
        if mask == "null":
            return 1
        if mask in ("birth_year", "death_year"):
            low, high = self.column_range(name, column)
            return high.year - low.year + 1
        return self.rows(name)

    def _personal(self, name: str, column: str) -> bool:
        found = [c for c in self._raw_entry(name).columns if c.name == column]
        return bool(found) and found[0].sensitivity in ("personal", "personal_id")

    # --- reading ------------------------------------------------------------------------

    def table(
        self,
        name: str,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
    ) -> dd.DataFrame:
        """The caller's view of table ``name``: scoped, masked on the workers, then filtered.

        ``filters`` (pyarrow DNF) are exact on the view's values; those on unmasked columns
        also go into the Parquet read, together with a division-code scope.
        """
        if self.sealed:
            raise AccessDenied(f"the views of job {self.job!r} were read when it was built: "
                               f"table {name!r} is not readable again through them")
        decision = self.decision(name)
        selected = list(decision.columns if columns is None else columns)
        groups = _dnf(filters)
        filtered = list(dict.fromkeys(column for group in groups for column, _, _ in group))
        decision.require([*selected, *filtered])
        needed = list(dict.fromkeys([*selected, *filtered]))
        scope = _scope_terms(decision)
        read = list(needed)
        if decision.scope_province is not None and decision.scope_column not in read:
            read.append(decision.scope_column)  # read to scope the rows, not returned
        raw_entry = self._raw_entry(name)
        version = super().version(name)
        pushed = _pushable(groups, decision)
        if scope:
            pushed = [group + scope for group in pushed] if pushed else [scope]
        frame = read_version(raw_entry, version, read, pushed or None, self._partitions)
        view = dataclasses.replace(
            decision, columns=tuple(needed),
            masks={column: decision.masks[column] for column in needed})
        key = purpose_key(self._secret, decision.purpose) \
            if "pseudonym" in view.masks.values() else None
        meta = _govern(frame._meta, view, key, groups, selected)
        frame = frame.map_partitions(_govern, view, key, groups, selected, meta=meta)
        self.reads.append((name, tuple(f.path for f in version.files), tuple(read)))
        self.accesses.append(Access(name, tuple(selected), tuple(filtered)))
        return frame

    def columns_read(self) -> dict[str, dict[str, list[str]]]:
        """Per table: the columns its reads returned and those its pushed filters named."""
        out: dict[str, dict[str, list[str]]] = {}
        for access in self.accesses:
            seen = out.setdefault(access.table, {"projected": [], "filtered": []})
            for key, columns in (("projected", access.projected),
                                 ("filtered", access.filtered)):
                seen[key] += [c for c in columns if c not in seen[key]]
        return out


class CatalogView:
    """What a governed snapshot's jobs see of the catalog: the tables the caller may read,
    their readable columns, and authorities among them. Lookups only; nothing changes."""

    def __init__(self, snapshot: GovernedSnapshot) -> None:
        self._snapshot = snapshot
        self._base = snapshot.base_catalog

    @property
    def root(self):
        return self._base.root

    def names(self) -> list[str]:
        return [name for name in self._base.names() if self._snapshot.readable(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._base and self._snapshot.readable(name)

    def table(self, name: str) -> TableEntry:
        return self._snapshot.entry(name)

    @property
    def tables(self) -> dict[str, TableEntry]:
        return {name: self._snapshot.entry(name) for name in self.names()}

    def version(self, name: str, version: int | None = None,
                as_of: dt.datetime | None = None) -> Version:
        self._snapshot.decision(name)
        return self._base.version(name, version, as_of)

    def authority(self, element_name: str) -> str | None:
        return self.authorities().get(element_name)

    def authorities(self) -> dict[str, str]:
        """Authorities whose table, and whose column of the element, the caller may read."""
        return {element: table for element, table in self._base.authorities().items()
                if self._holds(table, element)}

    def holding(self, *elements: str) -> list[str]:
        return [table for table in self._base.holding(*elements)
                if all(self._holds(table, e) for e in elements)]

    def elements_beside(self, key: str, elements: tuple[str, ...]) -> dict[str, list[str]]:
        held = {}
        for table, found in self._base.elements_beside(key, elements).items():
            if self._holds(table, key):
                kept = [e for e in found if self._holds(table, e)]
                if kept:
                    held[table] = kept
        return held

    def _holds(self, table: str, element_name: str) -> bool:
        if not self._snapshot.readable(table):
            return False
        return self._snapshot.entry(table).column_of(element_name) is not None


def governed_snapshot(
    snapshot: Snapshot,
    policy: Policy,
    caller: Principal,
    purpose: str | None,
    now: dt.datetime,
    secret: bytes,
) -> GovernedSnapshot:
    """``snapshot`` (its catalog, ``as_of``, read partitions, inputs and any versions it has
    already fixed) as ``caller``'s view for ``purpose``, decided at ``now``. ``secret`` is the
    hub's, from which each purpose's pseudonym key is derived."""
    if isinstance(snapshot, GovernedSnapshot):
        raise TypeError("the snapshot is already governed")
    governed = GovernedSnapshot(
        snapshot.catalog, policy, request_caller(caller, purpose), now, secret,
        snapshot.as_of, snapshot._partitions, snapshot.inputs)
    governed._versions.update(snapshot._versions)
    return governed


class GovernedSession(Session):
    """A Session whose every snapshot (so every job, query and ``table``) is governed.

    It shares the wrapped session's catalog and cluster and never closes the cluster:
    the wrapped session owns it.
    """

    def __init__(
        self,
        session: Session,
        policy: Policy,
        caller: Principal,
        purpose: str | None,
        now: dt.datetime,
        secret: bytes,
    ) -> None:
        # Not Session.__init__: that asks the scheduler for its threads again.
        self.catalog = session.catalog
        self.cluster = session.cluster
        self.as_of = session.as_of
        self.threads = session.threads
        self.policy = policy
        self.caller = request_caller(caller, purpose)
        self.now = now
        self._secret = secret
        self._job: str | None = None  # set on the private copy GovernedSession.build makes

    def snapshot(self, as_of: Any = None, inputs: dict[str, str] | None = None
                 ) -> GovernedSnapshot:
        return GovernedSnapshot(
            self.catalog, self.policy, self.caller, self.now, self._secret,
            as_of if as_of is not None else self.as_of, self._read_partitions, inputs,
            job=self._job)

    def build(self, name: str, params: Params | None = None,
              inputs: dict[str, str] | None = None, **kwargs: Any) -> Job:
        """Built-in job ``name`` over views decided for that job (what the service runs).

        Tables are decided with the job's name, so an aggregate grant listing it applies
        (and only then). When one does, the job's outputs are what
        :data:`AGGREGATE_OUTPUTS` lists, cells under the grants' ``min_cell`` suppressed, and
        its snapshot is sealed; an output not listed is AccessDenied.
        """
        from compute.jobs import JOBS

        spec = JOBS[name]
        bound = copy.copy(self)
        bound._job = name
        job = spec.build(bound, params, inputs=inputs, **kwargs)
        if job.name != name or not isinstance(job.snapshot, GovernedSnapshot) \
                or job.snapshot.job != name:
            raise AccessDenied(f"job {name!r} did not build over views decided for it")
        return guard_aggregate(job)

    def sql_job(self, query: str, as_of: Any = None) -> Job:
        if self._job is not None:
            raise AccessDenied(f"views decided for job {self._job!r} run no SQL")
        return super().sql_job(query, as_of)

    def table(self, name: str, columns: Sequence[str] | None = None,
              filters: Filters | None = None, as_of: Any = None) -> dd.DataFrame:
        if self._job is not None:
            raise AccessDenied(f"views decided for job {self._job!r} are read by that job only")
        return super().table(name, columns, filters, as_of)

    def rows(self, name: str) -> int:
        return self.snapshot().rows(name)

    def close(self) -> None:
        """Nothing to close: the wrapped session owns the cluster."""

    def __repr__(self) -> str:
        return (f"<GovernedSession {self.caller.department!r} province={self.caller.province} "
                f"purpose={self.caller.purpose} data={str(self.catalog.root)!r}>")


def guard_aggregate(job: Job) -> Job:
    """``job`` as it may leave when an aggregate grant decided any table it read: only the
    outputs :data:`AGGREGATE_OUTPUTS` lists for it, each output computed from a table whose
    personal columns the grant opened reduced to the cells of at least ``min_cell`` people
    (the largest ``min_cell`` of the grants used), and its snapshot sealed. Any other job is
    returned as it is."""
    snapshot = job.snapshot
    if not isinstance(snapshot, GovernedSnapshot):
        return job
    aggregate = [d for d in snapshot.decisions.values() if d.allowed and d.aggregate]
    if not aggregate:
        return job
    snapshot.sealed = True
    if any(d.job != job.name for d in aggregate) or job.name not in AGGREGATE_OUTPUTS:
        raise AccessDenied(f"job {job.name!r} is not an aggregate job its grants list")
    cells = AGGREGATE_OUTPUTS[job.name]
    unknown = sorted(set(job.outputs) - set(cells))
    if unknown:
        raise AccessDenied(f"job {job.name!r}: outputs {unknown} are not aggregate outputs")
    from compute.jobs import JOBS

    min_cell = max(d.min_cell for d in aggregate)
    roles = JOBS[job.name].inputs(snapshot, job.params)
    outputs = {}
    for name, frame in job.outputs.items():
        spec = cells[name]
        missing = [c for c in ("level", "division_code", *spec.keys, spec.count)
                   if c not in frame.columns]
        if missing:
            raise AccessDenied(f"job {job.name!r}: output {name!r} lacks {missing}")
        tables = {roles[role] for role in spec.roles}
        if any(_opens_personal(snapshot, table) for table in tables):
            # One small partition (a row per cell), as pandas: the rule needs every cell.
            whole = frame.repartition(npartitions=1).to_backend("pandas")
            frame = whole.map_partitions(suppress_small_cells, spec.count, list(spec.keys),
                                         min_cell, meta=whole._meta)
        outputs[name] = frame
    plan = [*job.plan, f"aggregate grant: cells under {min_cell} suppressed"]
    return dataclasses.replace(job, outputs=outputs, plan=plan)


def _opens_personal(snapshot: GovernedSnapshot, table: str) -> bool:
    """Whether ``table``'s decision lets a personal column through unmasked (the owner's
    included: an aggregate job's output mixes what the grant opened with it)."""
    decision = snapshot.decisions.get(table)
    if decision is None:
        return True  # not decided: treat as opened
    sensitivity = {c.name: c.sensitivity for c in snapshot._raw_entry(table).columns}
    return any(mask == "none" and sensitivity.get(column) in ("personal", "personal_id")
               for column, mask in decision.masks.items())


def catalog_for(
    source: Snapshot | Catalog,
    policy: Policy,
    caller: Principal,
    purpose: str | None,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The tables ``caller`` may read for ``purpose`` at ``now``, each with its readable
    columns (name, type in the view, sensitivity, element, mask), how its rows are scoped
    and the grant that opens it. Tables it may not read are left out, unnamed."""
    catalog = source.catalog if isinstance(source, Snapshot) else source
    if isinstance(catalog, CatalogView):
        catalog = catalog._base
    who = request_caller(caller, purpose)
    listed = []
    for entry in catalog.tables.values():
        decision = policy.decide(who, table_info(entry), now)
        if not decision.allowed:
            continue
        view = view_entry(entry, decision)
        scope = None
        if decision.scope_province is not None:
            scope = {"province": decision.scope_province, "column": decision.scope_column}
        listed.append({
            "name": entry.name,
            "owner": entry.owner,
            "sharing": entry.sharing,
            "description": entry.description,
            "version": entry.version,
            # A scoped table's row count is the whole country's: not the caller's to see.
            "rows": entry.rows if scope is None else None,
            "scope": scope,
            "grant": decision.grant.name if decision.grant else None,
            "purpose": decision.purpose,
            "reason": decision.reason,
            "columns": [
                {"name": c.name, "type": c.dtype, "sensitivity": c.sensitivity,
                 "element": c.element, "mask": decision.masks[c.name]}
                for c in view.columns],
        })
    return listed


# --- on the workers ---------------------------------------------------------------------

def _govern(part: Any, view: Decision, key: bytes | None, groups: list[list[Filter]],
            selected: list[str]) -> Any:
    """One partition as the view shows it: rows in scope, masked, then the filters on the
    masked values, then the columns asked for."""
    part = apply_decision(part, view, key)
    if groups:
        part = part[_matching(part, groups)]
    return part[selected]


def _matching(part: Any, groups: list[list[Filter]]) -> Any:
    keep = None
    for group in groups:
        matches = None
        for column, op, value in group:
            term = _compare(part[column], op, value)
            matches = term if matches is None else matches & term
        keep = matches if keep is None else keep | matches
    return keep.fillna(False).astype(bool)


def _compare(values: Any, op: str, value: Any) -> Any:
    def scalar(v: Any) -> Any:
        return pd.Timestamp(v) if isinstance(v, (dt.date, str)) and values.dtype.kind == "M" \
            else v

    if op in ("in", "not in"):
        found = values.isin([scalar(v) for v in value])
        return found if op == "in" else ~found & values.notna()
    names = {"==": "eq", "=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
    if op not in names:
        raise ValueError(f"unknown filter operator {op!r}")
    return getattr(values, names[op])(scalar(value))


# --- helpers ------------------------------------------------------------------------------

def _dnf(filters: Filters | None) -> list[list[Filter]]:
    if not filters:
        return []
    groups = [filters] if isinstance(filters[0][0], str) else filters
    return [list(group) for group in groups]


def _pushable(groups: list[list[Filter]], decision: Decision) -> list[list[Filter]]:
    """The part of ``groups`` that may go into the Parquet read: terms on unmasked columns
    only (raw value = view value). Several groups (an OR) go only when all their terms do."""
    def plain(term: Filter) -> bool:
        return decision.masks.get(term[0]) == "none"

    if len(groups) == 1:
        kept = [term for term in groups[0] if plain(term)]
        return [kept] if kept else []
    if all(plain(term) for group in groups for term in group):
        return groups
    return []


def _scope_terms(decision: Decision) -> list[Filter]:
    """A division-code scope as a range filter for the read (a resident-ID scope: none)."""
    if decision.scope_province is None or decision.scope_element != "division_code":
        return []
    low = int(decision.scope_province) * PROVINCE_SPAN
    return [(decision.scope_column, ">=", low),
            (decision.scope_column, "<=", low + PROVINCE_SPAN - 1)]


def _terms(decision: Decision) -> tuple[Any, ...]:
    return (decision.allowed, decision.columns, tuple(sorted(decision.masks.items())),
            decision.scope_province, decision.scope_column, decision.purpose,
            decision.job, decision.min_cell)


def _year_start(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, dt.date):
        return value.replace(month=1, day=1)
    return value


def _year_end(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(month=12, day=31, hour=23, minute=59, second=59, microsecond=0)
    if isinstance(value, dt.date):
        return value.replace(month=12, day=31)
    return value


def _identifier(element: str | None) -> bool:
    found = ELEMENTS.get(element or "")
    return found is not None and found.identifier is not None


def _arrow(dtype: str) -> pa.DataType:
    try:
        return pa.type_for_alias(dtype)
    except ValueError:
        return pa.string()


__all__ = [
    "AGGREGATE_OUTPUTS",
    "Access",
    "CatalogView",
    "Cells",
    "GovernedSession",
    "GovernedSnapshot",
    "catalog_for",
    "governed_snapshot",
    "guard_aggregate",
    "request_caller",
    "table_info",
    "view_entry",
]


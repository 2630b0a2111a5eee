"""The hub's access policy: a YAML file a data steward writes, and the decision per table.

Modelled on Trino's file-based access control: an ordered list of grants, the first that
matches wins, and no match means no access (deny by default). On top of the grants, the
sharing classes of the data-sharing regulations:

- the owner department reads its own tables, every column, unmasked;
- a ``not_shared`` table is read by its owner only (no grant can open it);
- an ``unconditional`` table is read by every department (a grant may still say how);
- a ``conditional`` table only through a grant naming the department, the table, the
  columns, an approved purpose (which the request must state) and an expiry.

A grant may scope rows to the caller's province (``scope: province``) and says how the
columns are masked for its readers: ``personal_id`` as a keyed ``pseudonym`` or a
``partial`` mask; ``personal`` as ``null`` or ``generalise`` (birth and death dates to
their year, name to its surname, anything else null). Without a grant (an unconditional table) the
masks are ``partial`` and ``null``. The file::

    version: 1
    purposes:
      - name: elderly-allowance-2026
        description: residents who qualify for the elderly allowance
    grants:
      - name: civil-affairs-residents         # optional; else "line N"
        departments: [civil affairs]
        tables: [residents, deaths]
        columns: [resident_id, birth_date, division_code]
        purpose: elderly-allowance-2026
        expires: 2027-06-30                   # through that day, China Standard Time
        scope: province                       # optional: rows of the caller's province
        masks: {personal_id: pseudonym, personal: generalise}   # optional
      - name: statistics-rollup               # an aggregate grant
        departments: [statistics bureau]
        tables: [residents, deaths]
        columns: [resident_id, sex, birth_date, division_code, death_date]
        purpose: population-statistics-2026
        expires: 2027-06-30
        jobs: [rollup]                        # only these built-in jobs: no SQL, no other job
        min_cell: 10                          # cells counting fewer people are suppressed

An **aggregate grant** (one with ``jobs``) opens its tables to the built-in jobs it lists
and to nothing else: it never matches SQL, another job or a catalog listing, which fall
through to the next grant (else are denied). The jobs it may list publish counts only
(:data:`AGGREGATE_JOBS`). Inside such a job the grant's ``personal`` columns are read
unmasked (sex and birth date, to the day) and its resident IDs as pseudonyms (they still
join and de-duplicate; a raw ID never enters the job); ``masks`` does not apply and is
refused. The service then suppresses small cells of the job's outputs (``min_cell``, at
least :data:`MIN_CELL_FLOOR`; see :func:`hub.masks.suppress_small_cells`), within the
grant's row scope as usual.

Loading checks every key, type, date and mask kind and reports every problem with its
line in one :class:`PolicyError`; a grant already expired loads, with a note.
:func:`decide` is a pure function of the policy, the caller, the catalog's view of a
table, the time and the built-in job the request runs (None for SQL), so a server can
re-check a request when its results are fetched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Protocol

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compute.tables.contract import SENSITIVITIES, SHARING_CLASSES
from compute.tables.elements import ELEMENTS
from hub.exceptions import AccessDenied, PolicyError

VERSION = 1
MASKS = ("none", "pseudonym", "partial", "null", "birth_year", "death_year", "surname")
ID_MASKS = ("pseudonym", "partial")
PERSONAL_MASKS = ("null", "generalise")
SCOPES = ("province",)
# Masks where no grant applies (an unconditional table): nothing that needs a purpose key.
DEFAULT_MASKS = {"personal_id": "partial", "personal": "null"}
# What "generalise" keeps of a personal column, by data element; any other element is null.
# A death date keeps its year as well: jobs that count the living still run.
GENERALISED = {"birth_date": "birth_year", "death_date": "death_year", "person_name": "surname"}
# Built-in jobs an aggregate grant may list: their every output is a count by group, never
# a row (verify, eligibility and integrity return rows of people and payments).
AGGREGATE_JOBS = ("rollup",)
# The smallest min_cell a policy may set (a cell of 1 or 2 people singles them out).
MIN_CELL_FLOOR = 3
# A date expiry means through the end of that day in China Standard Time.
EXPIRY_ZONE = timezone(timedelta(hours=8), "CST")

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INT = "tag:yaml.org,2002:int"
_NULL = "tag:yaml.org,2002:null"


@dataclass(frozen=True)
class Purpose:
    """An approved purpose that grants may name."""

    name: str
    description: str
    line: int


@dataclass(frozen=True)
class Grant:
    """One rule of the file: who reads which columns of which tables, why, until when, how."""

    name: str
    line: int
    departments: tuple[str, ...]
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    purpose: str
    expires: datetime
    scope: str | None = None
    masks: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MASKS))
    jobs: tuple[str, ...] = ()  # an aggregate grant: only these built-in jobs
    min_cell: int | None = None  # with jobs: cells counting fewer people are suppressed

    @property
    def aggregate(self) -> bool:
        """Whether this grant opens its tables to aggregate jobs only (``jobs``)."""
        return bool(self.jobs)

    @property
    def label(self) -> str:
        """How reasons and the audit name this grant: its name and line."""
        return f"grant {self.name!r} (line {self.line})"


@dataclass(frozen=True)
class Policy:
    """A loaded policy: the approved purposes, the ordered grants, and notes from loading."""

    source: str
    purposes: Mapping[str, Purpose]
    grants: tuple[Grant, ...]
    notes: tuple[str, ...] = ()

    def decide(self, caller: Principal, table: TableInfo, now: datetime,
               job: str | None = None) -> Decision:
        """See :func:`decide`."""
        return decide(self, caller, table, now, job)

    def decide_all(
        self, caller: Principal, tables: Iterable[TableInfo], now: datetime,
        job: str | None = None,
    ) -> dict[str, Decision]:
        """The decision for each of ``tables``, by table name."""
        return {table.name: decide(self, caller, table, now, job) for table in tables}


class Principal(Protocol):
    """What a decision needs of the caller; the hub's verified ``Identity`` has these."""

    @property
    def department(self) -> str: ...
    @property
    def province(self) -> str | None: ...
    @property
    def purpose(self) -> str | None: ...


@dataclass(frozen=True)
class Caller:
    """A caller for :func:`decide`: department, two-digit province code ("11") or None, purpose."""

    department: str
    province: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class ColumnInfo:
    """A column as the catalog sees it: sensitivity and data element (or None)."""

    name: str
    sensitivity: str
    element: str | None = None

    def __post_init__(self) -> None:
        if self.sensitivity not in SENSITIVITIES:
            raise ValueError(f"column {self.name!r}: sensitivity must be one of {SENSITIVITIES}")


@dataclass(frozen=True)
class TableInfo:
    """A table as the catalog sees it: owner department, sharing class, columns."""

    name: str
    owner: str
    sharing: str
    columns: tuple[ColumnInfo, ...]

    def __post_init__(self) -> None:
        if self.sharing not in SHARING_CLASSES:
            raise ValueError(f"table {self.name!r}: sharing must be one of {SHARING_CLASSES}")


@dataclass(frozen=True)
class Decision:
    """Whether and how one caller reads one table.

    ``columns`` are the readable columns in table order, ``masks`` the mask of each (one of
    :data:`MASKS`). Rows are limited to province ``scope_province`` ("11"; None: all rows) by
    ``scope_column``, whose element (``scope_element``) is ``division_code`` or
    ``resident_id``. ``grant`` is the grant used (None for the owner and for an
    unconditional table read without one); ``purpose`` keys the pseudonyms.

    ``job`` and ``min_cell`` are set by an aggregate grant only: the table is read, unmasked
    as :func:`aggregate_mask` says, by that built-in job alone, whose outputs the service
    suppresses below ``min_cell`` people (:attr:`aggregate`).
    """

    table: str
    allowed: bool
    reason: str
    columns: tuple[str, ...] = ()
    masks: Mapping[str, str] = field(default_factory=dict)
    scope_province: str | None = None
    scope_column: str | None = None
    scope_element: str | None = None
    grant: Grant | None = None
    purpose: str | None = None
    job: str | None = None
    min_cell: int | None = None

    @property
    def aggregate(self) -> bool:
        """Whether this is an aggregate grant's decision (readable by one job, suppressed)."""
        return self.min_cell is not None

    def require(self, columns: Iterable[str] = ()) -> None:
        """Raise :class:`AccessDenied` unless the table, and each of ``columns``, is readable."""
        if not self.allowed:
            raise AccessDenied(self.reason)
        outside = [column for column in columns if column not in self.columns]
        if outside:
            raise AccessDenied(
                f"table {self.table!r}: columns {outside} are not readable ({self.reason}); "
                f"readable: {list(self.columns)}"
            )


def decide(policy: Policy, caller: Principal, table: TableInfo, now: datetime,
           job: str | None = None) -> Decision:
    """The :class:`Decision` for ``caller`` reading ``table`` at ``now`` (timezone-aware)
    for a request that runs built-in job ``job`` (None: SQL, a table read, the catalog).

    The owner reads all; a not_shared table nobody else; then the first grant that names
    the caller's department and the table, for the purpose the caller states, in force at
    ``now`` (and, when it scopes rows, for a caller with a province), and, if it is an
    aggregate grant, listing ``job``; else an unconditional table with the default masks;
    else denied, the reason naming the grants that missed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    everything = tuple(column.name for column in table.columns)
    if caller.department == table.owner:
        return Decision(
            table.name, True, f"{caller.department!r} owns table {table.name!r}",
            everything, dict.fromkeys(everything, "none"),
        )
    if table.sharing == "not_shared":
        return Decision(
            table.name, False,
            f"table {table.name!r} is not_shared: only its owner {table.owner!r} reads it",
        )
    misses = []
    for grant in policy.grants:
        if table.name not in grant.tables or caller.department not in grant.departments:
            continue
        miss = _miss(grant, caller, now, job)
        if miss is None:
            return _granted(grant, caller, table, job)
        misses.append(f"{grant.label} {miss}")
    if table.sharing == "unconditional":
        masks = {column.name: _mask(column, DEFAULT_MASKS) for column in table.columns}
        return Decision(
            table.name, True, f"table {table.name!r} is unconditional", everything, masks
        )
    reason = f"no grant lets {caller.department!r} read conditional table {table.name!r}"
    if misses:
        reason += ": " + "; ".join(misses)
    else:
        reason += f" (policy {policy.source} names none for this department and table)"
    return Decision(table.name, False, reason)


def _miss(grant: Grant, caller: Principal, now: datetime, job: str | None) -> str | None:
    """Why ``grant``, naming the caller's department and the table, does not apply, or None."""
    if grant.aggregate and job not in grant.jobs:
        what = "SQL or a direct read" if job is None else f"job {job!r}"
        return (f"opens the table only to the aggregate jobs {list(grant.jobs)}, "
                f"not to {what}")
    if caller.purpose is None:
        return f"is for purpose {grant.purpose!r} and the request states no purpose"
    if caller.purpose != grant.purpose:
        return f"is for purpose {grant.purpose!r}, not {caller.purpose!r}"
    if now >= grant.expires:
        return f"expired at {grant.expires.isoformat()}"
    if grant.scope == "province" and caller.province is None:
        return "scopes rows by province and the caller has none"
    return None


def _granted(grant: Grant, caller: Principal, table: TableInfo, job: str | None) -> Decision:
    readable = [column for column in table.columns if column.name in grant.columns]
    reason = f"{grant.label} for purpose {grant.purpose!r}"
    absent = sorted(set(grant.columns) - {column.name for column in table.columns})
    if absent:
        reason += f" (grant columns not in table {table.name!r}: {absent})"
    scope = (None, None)
    if grant.scope == "province":
        scope = _scope_column(table)
        if scope == (None, None):
            return Decision(
                table.name, False,
                f"{grant.label} scopes rows by province and table {table.name!r} has no "
                "division_code or resident_id column to scope by",
            )
    if grant.aggregate:
        reason += f", aggregate job {job!r} only, cells under {grant.min_cell} suppressed"
        masks = {column.name: aggregate_mask(column) for column in readable}
    else:
        masks = {column.name: _mask(column, grant.masks) for column in readable}
    return Decision(
        table.name, True, reason,
        tuple(column.name for column in readable),
        masks,
        scope_province=caller.province if grant.scope else None,
        scope_column=scope[0],
        scope_element=scope[1],
        grant=grant,
        purpose=grant.purpose,
        job=job if grant.aggregate else None,
        min_cell=grant.min_cell if grant.aggregate else None,
    )


def _scope_column(table: TableInfo) -> tuple[str | None, str | None]:
    """(column, element) to scope rows by: the division code, else the person's resident ID."""
    for element in ("division_code", "resident_id"):
        for column in table.columns:
            if column.element == element:
                return column.name, element
    return None, None


def _mask(column: ColumnInfo, masks: Mapping[str, str]) -> str:
    if column.sensitivity == "personal_id":
        # Pseudonyms and partial masks are defined for resident IDs; another identifier is null.
        return masks["personal_id"] if is_resident_id(column.element) else "null"
    if column.sensitivity != "personal":
        return "none"
    if masks["personal"] == "generalise":
        return GENERALISED.get(column.element or "", "null")
    return "null"


def aggregate_mask(column: ColumnInfo) -> str:
    """A column's mask inside an aggregate grant's job: a resident ID as a pseudonym (it
    joins and de-duplicates as the raw ID did), another identifier null, everything else
    (personal columns included) unmasked: the job's outputs are suppressed instead."""
    if column.sensitivity == "personal_id":
        return "pseudonym" if is_resident_id(column.element) else "null"
    return "none"


def is_resident_id(element: str | None) -> bool:
    """Whether a column of data element ``element`` holds resident IDs (GB 11643)."""
    found = ELEMENTS.get(element or "")
    return found is not None and found.identifier == "resident_id"


def load_policy(path: str | Path, now: datetime | None = None) -> Policy:
    """Load and check the policy file at ``path``; expiries are noted against ``now``."""
    path = Path(path)
    return parse_policy(path.read_text(encoding="utf-8"), str(path), now)


def parse_policy(text: str, source: str = "<policy>", now: datetime | None = None) -> Policy:
    """Parse policy ``text``; a :class:`PolicyError` lists every problem with its line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise PolicyError(source, [(line, f"not valid YAML: {exc.problem}")]) from exc
    reader = _Reader()
    if root is None:
        raise PolicyError(source, [(1, "the policy is empty")])
    policy = reader.policy(root, source, now or datetime.now(UTC))
    if reader.problems:
        raise PolicyError(source, reader.problems)
    assert policy is not None  # no problems means every part was read
    return policy


class _Reader:
    """Reads the composed YAML nodes, collecting every problem with its line."""

    def __init__(self) -> None:
        self.problems: list[tuple[int, str]] = []

    def fail(self, node: Node, message: str) -> None:
        self.problems.append((node.start_mark.line + 1, message))

    def policy(self, root: Node, source: str, now: datetime) -> Policy | None:
        top = self.mapping(root, "the policy", ("version", "purposes", "grants"), ())
        if top is None:
            return None
        version = self.integer(top["version"], "version") if "version" in top else None
        if version is not None and version != VERSION:
            self.fail(top["version"], f"version must be {VERSION}, not {version}")
        purposes: dict[str, Purpose] = {}
        for node in self.sequence(top.get("purposes"), "purposes"):
            purpose = self.purpose(node)
            if purpose is None:
                continue
            if purpose.name in purposes:
                self.fail(node, f"purpose {purpose.name!r} is already defined on line "
                                f"{purposes[purpose.name].line}")
            purposes[purpose.name] = purpose
        grants: list[Grant] = []
        notes = []
        for node in self.sequence(top.get("grants"), "grants"):
            grant = self.grant(node, purposes)
            if grant is None:
                continue
            if any(grant.name == other.name for other in grants):
                self.fail(node, f"grant name {grant.name!r} is used twice")
            if grant.expires <= now:
                notes.append(f"{source} line {grant.line}: {grant.label} expired at "
                             f"{grant.expires.isoformat()} and grants nothing")
            grants.append(grant)
        return Policy(source, purposes, tuple(grants), tuple(notes))

    def purpose(self, node: Node) -> Purpose | None:
        keys = self.mapping(node, "a purpose", ("name",), ("description",))
        if keys is None:
            return None
        name = self.string(keys["name"], "a purpose's name") if "name" in keys else None
        description = ""
        if "description" in keys:
            description = self.string(keys["description"], "a purpose's description") or ""
        if name is None:
            return None
        return Purpose(name, description, node.start_mark.line + 1)

    def grant(self, node: Node, purposes: Mapping[str, Purpose]) -> Grant | None:
        required = ("departments", "tables", "columns", "purpose", "expires")
        keys = self.mapping(node, "a grant", required,
                            ("name", "scope", "masks", "jobs", "min_cell"))
        if keys is None:
            return None
        line = node.start_mark.line + 1
        values = {
            "name": self.string(keys["name"], "name") if "name" in keys else f"line {line}",
            "departments": self.strings(keys.get("departments"), "departments"),
            "tables": self.strings(keys.get("tables"), "tables"),
            "columns": self.strings(keys.get("columns"), "columns"),
            "purpose": self.string(keys["purpose"], "purpose") if "purpose" in keys else None,
            "expires": self.expiry(keys["expires"]) if "expires" in keys else None,
            "scope": self.choice(keys["scope"], "scope", SCOPES) if "scope" in keys else None,
            "masks": self.masks(keys["masks"]) if "masks" in keys else dict(DEFAULT_MASKS),
        }
        aggregate = self.aggregate(node, keys)
        purpose = values["purpose"]
        if purpose is not None and purpose not in purposes:
            self.fail(keys["purpose"], f"purpose {purpose!r} is not an approved purpose "
                                       f"(purposes: {sorted(purposes)})")
            return None
        if any(values[key] is None for key in (*required, "name", "masks")):
            return None
        if "scope" in keys and values["scope"] is None:
            return None
        if aggregate is None:
            return None
        jobs, min_cell = aggregate
        return Grant(line=line, **values, jobs=jobs, min_cell=min_cell)

    def aggregate(self, node: Node, keys: Mapping[str, Node]
                  ) -> tuple[tuple[str, ...], int | None] | None:
        """``jobs`` and ``min_cell`` of a grant: both or neither, and no ``masks`` with them;
        ((), None) for an ordinary grant, None after a problem."""
        if "jobs" not in keys:
            if "min_cell" in keys:
                self.fail(keys["min_cell"], "min_cell applies only to an aggregate grant: "
                                            "give jobs as well")
                return None
            return (), None
        jobs = self.strings(keys["jobs"], "jobs")
        ok = jobs is not None
        for item, job in zip(getattr(keys["jobs"], "value", ()), jobs or (), strict=False):
            if job not in AGGREGATE_JOBS:
                self.fail(item, f"jobs may list only built-in jobs whose outputs are counts "
                                f"({', '.join(AGGREGATE_JOBS)}), not {job!r}")
                ok = False
        if "masks" in keys:
            self.fail(keys["masks"], "an aggregate grant (jobs) takes no masks: its job reads "
                                     "personal columns unmasked and resident IDs as "
                                     "pseudonyms, and its outputs are suppressed by min_cell")
            ok = False
        if "min_cell" not in keys:
            self.fail(node, "an aggregate grant (jobs) lacks 'min_cell', the fewest people "
                            "a published cell may count")
            return None
        min_cell = self.integer(keys["min_cell"], "min_cell")
        if min_cell is not None and min_cell < MIN_CELL_FLOOR:
            self.fail(keys["min_cell"], f"min_cell must be at least {MIN_CELL_FLOOR}, "
                                        f"not {min_cell}")
            min_cell = None
        if not ok or min_cell is None:
            return None
        return jobs, min_cell

    def masks(self, node: Node) -> dict[str, str] | None:
        keys = self.mapping(node, "masks", (), ("personal_id", "personal"))
        if keys is None:
            return None
        masks = dict(DEFAULT_MASKS)
        for sensitivity, choices in (("personal_id", ID_MASKS), ("personal", PERSONAL_MASKS)):
            value = keys.get(sensitivity)
            if value is None:
                continue
            # A plain `null` is YAML's null; here it names the null mask.
            if isinstance(value, ScalarNode) and value.tag == _NULL and value.value == "null":
                masks[sensitivity] = "null"
            else:
                masks[sensitivity] = self.choice(value, f"mask of {sensitivity}", choices)
        return None if None in masks.values() else masks

    def mapping(
        self, node: Node, what: str, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.fail(node, f"{what} must be a mapping of {', '.join(required + optional)}")
            return None
        keys: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key in keys:
                self.fail(key_node, f"duplicate key {key!r} in {what}")
            elif key not in required + optional:
                self.fail(key_node, f"unknown key {key!r} in {what}; expected "
                                    f"{', '.join(required + optional)}")
            else:
                keys[key] = value_node
        for key in required:
            if key not in keys:
                self.fail(node, f"{what} lacks {key!r}")
        return keys

    def sequence(self, node: Node | None, what: str) -> list[Node]:
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            self.fail(node, f"{what} must be a list")
            return []
        return list(node.value)

    def string(self, node: Node, what: str) -> str | None:
        # Only strings: a plain `yes` (a bool) or `2026` (an int) is refused, not coerced.
        if not isinstance(node, ScalarNode) or node.tag != _STR or not node.value.strip():
            self.fail(node, f"{what} must be a non-empty string")
            return None
        return node.value

    def strings(self, node: Node | None, what: str) -> tuple[str, ...] | None:
        if node is None:
            return None
        if not isinstance(node, SequenceNode) or not node.value:
            self.fail(node, f"{what} must be a non-empty list of strings")
            return None
        values = [self.string(item, f"each of {what}") for item in node.value]
        for item, value in zip(node.value, values, strict=True):
            if value is not None and values.count(value) > 1:
                self.fail(item, f"{what} lists {value!r} twice")
                return None
        return None if None in values else tuple(values)

    def integer(self, node: Node, what: str) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.fail(node, f"{what} must be an integer")
            return None
        return int(node.value)

    def choice(self, node: Node, what: str, choices: tuple[str, ...]) -> str | None:
        if isinstance(node, ScalarNode) and node.tag == _STR and node.value in choices:
            return node.value
        found = node.value if isinstance(node, ScalarNode) else node.id
        self.fail(node, f"{what} must be one of {', '.join(choices)}, not {found!r}")
        return None

    def expiry(self, node: Node) -> datetime | None:
        """A date (through that day, China Standard Time) or a datetime with its UTC offset."""
        if not isinstance(node, ScalarNode) or node.tag not in (_STR, _TIMESTAMP):
            self.fail(node, "expires must be a date (2027-06-30) or a datetime with offset")
            return None
        text = node.value.strip()
        try:
            if len(text) == len("2027-06-30"):
                day = date.fromisoformat(text)
                return datetime.combine(day + timedelta(days=1), time(), EXPIRY_ZONE)
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(node, f"expires {text!r} is not a date (YYYY-MM-DD) or an ISO datetime")
            return None
        if moment.tzinfo is None:
            self.fail(node, f"expires {text!r} needs a UTC offset (e.g. +08:00)")
            return None
        return moment

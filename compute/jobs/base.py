"""What every job is: validated parameters and lazy Dask outputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import dask.dataframe as dd

from compute.exceptions import ParameterError
from compute.planner import JoinChoice
from compute.tables import Snapshot

if TYPE_CHECKING:
    from compute.session import Session

DEFAULT_REFERENCE_DATE = dt.date(2025, 12, 1)


@dataclass(frozen=True)
class Params:
    """Base of the job parameter classes: frozen, validated on construction.

    ``check_data`` validates what needs the data (dates inside the data's period); it reads
    the Delta log's statistics only and runs before any cluster work starts.
    """

    help: ClassVar[dict[str, str]] = {}
    # (parameter, element): the parameter must lie within the range of the element's column
    # in the table the job reads it from.
    within_data: ClassVar[tuple[tuple[str, str], ...]] = ()

    def check_data(self, snapshot: Snapshot) -> None:
        """Raise :class:`ParameterError` when a parameter falls outside the data."""
        for name, element_name in self.within_data:
            value = getattr(self, name)
            table = snapshot.source_of(element_name)
            column = snapshot.column_of(table, element_name)
            low, high = snapshot.column_range(table, column)
            if isinstance(low, dt.datetime):
                low, high = low.date(), high.date()
            if element_name == "payment_month":
                value = value.replace(day=1)  # a date lies in the data when its month does
            require(
                low <= value <= high,
                f"{name} {value} is outside the data: {table}.{column} spans {low} to {high}",
            )

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class SqlParams(Params):
    """The one parameter of a SQL query run like a job."""

    query: str = ""


@dataclass
class Job:
    """A job's lazy outputs, the snapshot it reads and the join strategies it chose."""

    name: str
    params: Params
    outputs: dict[str, dd.DataFrame]
    snapshot: Snapshot
    plan: list[JoinChoice | str] = field(default_factory=list)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(self.snapshot.versions)

    @property
    def versions(self) -> dict[str, int]:
        """The version of every table the job reads."""
        return self.snapshot.versions

    @property
    def rows(self) -> dict[str, int]:
        """Rows of every table the job reads, at the version it reads."""
        return {table: self.snapshot.rows(table) for table in self.tables}

    def explain(self) -> str:
        read = ", ".join(f"{t} v{v}" for t, v in self.versions.items())
        lines = [f"{self.name}: reads {read}"]
        lines += [f"  {'' if isinstance(choice, str) else 'join '}{choice}"
                  for choice in self.plan]
        lines += [f"  output {name}: {list(df.columns)}" for name, df in self.outputs.items()]
        return "\n".join(lines)


def require(condition: bool, message: str) -> None:
    """Raise :class:`ParameterError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ParameterError(message)


def as_number(value: Any, name: str, integer: bool = False) -> float | int:
    """A finite number (a whole one when ``integer``); a bool, a string, an infinity or a
    fraction where a whole number is wanted is a ParameterError naming the parameter."""
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParameterError(f"{name} must be {kind}, not {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        raise ParameterError(f"{name} must be finite, not {value!r}")
    if integer and value != int(value):
        raise ParameterError(f"{name} must be {kind}, not {value!r}")
    return int(value) if integer else float(value)


def as_date(value: dt.date | str, name: str) -> dt.date:
    """A date from a ``datetime.date`` or an ISO string, with a clear error otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise ParameterError(f"{name} must be a date like 2025-12-01, not {value!r} "
                             f"({type(value).__name__})")
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ParameterError(f"{name} must be a date like 2025-12-01, not {value!r}") from None


def years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)



P = TypeVar("P", bound=Params)


def prepare(
    session: Session, params_type: type[P], params: P | None, as_of: Any,
    inputs: dict[str, str] | None, kwargs: dict[str, Any],
) -> tuple[P, Snapshot]:
    """A job's validated parameters and the snapshot it reads.

    The job then finds its tables with its ``*_inputs`` function, which reads the catalog
    and the Delta logs only: a missing element or a parameter outside the data fails there,
    before any cluster work.
    """
    params = params or params_type(**kwargs)
    return params, session.snapshot(as_of, inputs)


def check_inputs(snapshot: Snapshot, params: Params, tables: dict[str, str]) -> dict[str, str]:
    """Check the data of every table a job reads (their files' footers), then the parameters
    that depend on the data: a broken file is named as such, never reported as a parameter
    outside a range it could not read. Returns ``tables``."""
    for table in dict.fromkeys(tables.values()):
        snapshot.check(table)
    params.check_data(snapshot)
    return tables

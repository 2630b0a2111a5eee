"""What every job is: validated parameters and lazy Dask outputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

import dask.dataframe as dd
import pyarrow.parquet as pq

from compute.exceptions import DataError, ParameterError
from compute.planner import JoinChoice
from compute.tables.catalog import Catalog, read_footer

DEFAULT_REFERENCE_DATE = dt.date(2025, 12, 1)



@dataclass(frozen=True)
class Params:
    """Base of the job parameter classes: frozen, validated on construction.

    ``check_data`` validates what needs the data (dates inside the data's period); it reads
    Parquet footers only and runs before any cluster work starts.
    """

    help: ClassVar[dict[str, str]] = {}
    # (parameter, table, column): the parameter must lie within the column's range.
    within_data: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    def check_data(self, catalog: Catalog) -> None:
        """Raise :class:`ParameterError` when a parameter falls outside the data."""
        for name, table, column in self.within_data:
            value = getattr(self, name)
            low, high = column_range(catalog, table, column)
            if isinstance(low, dt.date) and column == "month":
                value = value.replace(day=1)  # a date lies in the data when its month does
            require(
                low <= value <= high,
                f"{name} {value} is outside the data: {table}.{column} spans {low} to {high}",
            )

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass
class Job:
    """A job's lazy outputs, the tables it reads and the join strategies it chose."""

    name: str
    params: Params
    outputs: dict[str, dd.DataFrame]
    tables: tuple[str, ...]
    plan: list[JoinChoice] = field(default_factory=list)

    def explain(self) -> str:
        lines = [f"{self.name}: reads {', '.join(self.tables)}"]
        lines += [f"  join {choice}" for choice in self.plan]
        lines += [f"  output {name}: {list(df.columns)}" for name, df in self.outputs.items()]
        return "\n".join(lines)


def require(condition: bool, message: str) -> None:
    """Raise :class:`ParameterError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ParameterError(message)


def as_date(value: dt.date | str, name: str) -> dt.date:
    """A date from a ``datetime.date`` or an ISO string, with a clear error otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
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



def column_range(catalog: Catalog, table: str, column: str) -> tuple[Any, Any]:
    """Smallest and largest value of a column, from the Parquet footers' statistics."""
    low = high = None
    for path in catalog.table(table).files:
        read_footer(table, path)  # a missing or corrupt file raises DataError
        metadata = pq.read_metadata(path)
        index = metadata.schema.to_arrow_schema().get_field_index(column)
        for group in range(metadata.num_row_groups):
            stats = metadata.row_group(group).column(index).statistics
            if stats is None or not stats.has_min_max:
                raise DataError(
                    f"table {table!r}: file {str(path)!r} has no statistics for {column!r}"
                )
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
    if low is None:
        raise DataError(f"table {table!r} has no rows")
    return low, high

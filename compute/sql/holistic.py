"""Aggregates that need all of a group's rows at once: QUANTILE_CONT (MEDIAN), QUANTILE_DISC,
STRING_AGG and ARG_MAX/ARG_MIN.

No partial result of them merges into the whole (a median of medians is no median), so the
planner shuffles each group's rows into one partition, once for all of a grouping set's
holistic aggregates, and :func:`aggregated` computes them there. Each is an operation
pandas and cuDF share: a groupby's ``quantile``, ``first`` and ``agg(list)`` then
``str.join``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlglot import exp

from compute.sql import frames
from compute.sql.errors import unsupported
from compute.sql.translate import decimal_scale, text_places
from compute.tables.dtypes import STRING_DTYPE

FUNCTIONS = (exp.PercentileCont, exp.PercentileDisc, exp.GroupConcat, exp.ArgMax, exp.ArgMin)


@dataclass(frozen=True)
class Quantile:
    """QUANTILE_CONT at ``fraction``: interpolated between the two nearest values (pandas'
    and cuDF's linear quantile). Of a DECIMAL column, cut to its ``scale``'s places toward
    zero, as DuckDB's result keeps the column's type."""

    fraction: float
    scale: int | None = None
    columns: tuple[str, ...] = ()  # the columns it reads beside its operand

    def of(self, part: Any, by: list[str], operand: str) -> Any:
        values = part.assign(**{operand: part[operand].astype("float64")})
        found = values.groupby(by, dropna=False)[operand].quantile(self.fraction)
        if self.scale is None:
            return found
        factor = 10.0 ** self.scale
        # rounded first at a millionth of the last place: 34547.80 * 100 is 3454779.9999...
        return np.trunc((found * factor).round(6)) / factor


@dataclass(frozen=True)
class Discrete:
    """QUANTILE_DISC at ``fraction``: of a group's non-NULL values in order, the first whose
    position reaches that fraction of them, the ceil(n * fraction)-th (the first for 0), as
    DuckDB's and PostgreSQL's. Values of any ordered type: numbers, strings, dates."""

    fraction: float
    columns: tuple[str, ...] = ()

    def of(self, part: Any, by: list[str], operand: str) -> Any:
        rows = frames.sort_stable(part[part[operand].notna()], operand, True, "last")
        grouped = rows.groupby(by, dropna=False, sort=False)
        count = grouped[operand].transform("count")
        wanted = (np.ceil(count * self.fraction) - 1).clip(lower=0)
        rows = rows[grouped.cumcount() == wanted]
        return rows.groupby(by, dropna=False, sort=False)[operand].first()


@dataclass(frozen=True)
class Joined:
    """STRING_AGG: a group's non-NULL values as text, joined by ``separator``, in the order of
    ``order`` ((column, ascending, NULLs first) each), each value once if ``distinct``; NULL
    where there is none."""

    separator: str
    order: tuple[tuple[str, bool, bool], ...]
    distinct: bool
    places: int | None  # the digits after the point of the values' SQL type (text_places)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _, _ in self.order)

    def of(self, part: Any, by: list[str], operand: str) -> Any:
        rows = part[part[operand].notna()]
        if self.distinct:
            rows = rows.drop_duplicates([*by, operand])
        for column, ascending, nulls_first in reversed(self.order):  # stable: last key first
            rows = frames.sort_stable(rows, column, ascending, "first" if nulls_first else "last")
        text = rows.assign(**{operand: frames.as_text(rows[operand], self.places)})
        lists = text.groupby(by, dropna=False, sort=False)[operand].agg(list)
        return lists.str.join(self.separator).astype(STRING_DTYPE)


@dataclass(frozen=True)
class ArgExtreme:
    """ARG_MAX (``largest``) and ARG_MIN: the value on the row where the column ``by`` is
    largest (smallest), among the rows where neither is NULL; of tied rows, the first."""

    by: str
    largest: bool

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.by,)

    def of(self, part: Any, by: list[str], operand: str) -> Any:
        # the value NULL where the ordering one is: ``first`` skips NULLs
        rows = part.assign(**{operand: part[operand].where(part[self.by].notna())})
        rows = frames.sort_stable(rows, self.by, not self.largest, "last")
        return rows.groupby(by, dropna=False, sort=False)[operand].first()


Holistic = Quantile | Discrete | Joined | ArgExtreme


def spec(function: exp.AggFunc, label_of: Callable[[exp.Expr], str]) -> tuple[exp.Expr, Holistic]:
    """The operand of ``function`` (one of :data:`FUNCTIONS`) and what to compute of it;
    ``label_of`` names the column that will hold another expression it reads."""
    if isinstance(function, exp.PercentileCont):
        return function.this, Quantile(_fraction(function), _decimal_scale(function.this))
    if isinstance(function, exp.PercentileDisc):
        return function.this, Discrete(_fraction(function))
    if isinstance(function, (exp.ArgMax, exp.ArgMin)):
        if function.args.get("count") is not None:
            raise unsupported(function, f"{function.sql_name()} of several values")
        return function.this, ArgExtreme(label_of(function.expression),
                                         isinstance(function, exp.ArgMax))
    value, order = function.this, []
    if isinstance(value, exp.Order):  # STRING_AGG(x, ',' ORDER BY y)
        value, order = value.this, value.expressions
    distinct = isinstance(value, exp.Distinct)
    if distinct:
        if len(value.expressions) != 1:
            raise unsupported(function, "STRING_AGG(DISTINCT) of other than one value")
        value = value.expressions[0]
    separator = function.args.get("separator") or exp.Literal.string(",")
    if not (isinstance(separator, exp.Literal) and separator.is_string):
        raise unsupported(function, "STRING_AGG with a separator other than a string literal")
    keys = tuple((label_of(o.this), not o.args.get("desc"), bool(o.args.get("nulls_first")))
                 for o in order)
    return value, Joined(separator.this, keys, distinct, text_places(value))


def aggregated(part: Any, by: list[str], specs: Sequence[tuple[str, str, Holistic]]) -> Any:
    """The holistic aggregates ``specs`` ((label, operand column, what) each) of the groups
    by ``by`` of ``part``, which holds every row of its groups: one row a group."""
    found = [how.of(part, by, operand).rename(label).reset_index() for label, operand, how in specs]
    # merged, not aligned by index: a filtered aggregate lacks some groups
    return functools.reduce(lambda a, b: a.merge(b, on=by, how="outer"), found)


def _decimal_scale(operand: exp.Expr) -> int | None:
    """The scale of a DECIMAL column (the optimiser typed it from the table's schema); None
    for other operands."""
    return decimal_scale(operand) if isinstance(operand, exp.Column) else None


def _fraction(quantile: exp.PercentileCont | exp.PercentileDisc) -> float:
    """A QUANTILE_CONT's or QUANTILE_DISC's fraction, a constant in [0, 1]."""
    fraction = quantile.expression
    if not (isinstance(fraction, exp.Literal) and not fraction.is_string
            and 0 <= float(fraction.this) <= 1):
        name = "QUANTILE_CONT" if isinstance(quantile, exp.PercentileCont) else "QUANTILE_DISC"
        raise unsupported(quantile, f"{name} of a fraction other than one constant from 0 "
                                    "to 1")
    return float(fraction.this)

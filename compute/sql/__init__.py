"""SQL over the catalog, planned for the cluster.

    >>> query = plan(source, "SELECT province_of(division_code) AS p, COUNT(*) FROM residents "
    ...                      "GROUP BY 1")          # parsed, optimised, planned: nothing runs
    >>> print(query.explain())                      # steps, join strategies, partitions
    >>> query.frame.compute()                       # or sql(source, text).compute()

sqlglot parses and optimises; :mod:`compute.sql.execute` turns the optimised tree into Dask
operations; :mod:`compute.sql.translate` compiles column expressions. Anything unsupported is
refused by :func:`plan` with :class:`SqlError`, naming the construct and its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import dask.dataframe as dd
from sqlglot import exp

from compute.planner import one_memory_reading
from compute.sql.errors import SqlError
from compute.sql.execute import Planner
from compute.sql.rewrite import DIALECT, check, coerced, desugared, optimise, parse
from compute.sql.source import TableSource

__all__ = ["Query", "SqlError", "TableSource", "plan", "sql"]


@dataclass(frozen=True)
class Query:
    """A planned query: the lazy result ``frame`` and what the planner chose."""

    text: str
    optimised: exp.Expr
    frame: dd.DataFrame
    steps: tuple[str, ...]

    def explain(self) -> str:
        """The optimised SQL, then one line per step: scans, joins and their strategies."""
        lines = [self.optimised.sql(dialect=DIALECT, pretty=True), "", "plan:"]
        lines += [f"  {step}" for step in self.steps]
        lines.append(f"  result: {self.frame.npartitions} partition(s)")
        return "\n".join(lines)


def plan(source: TableSource, query: str) -> Query:
    """Parse, optimise and plan ``query`` over ``source``'s tables; nothing is computed.

    Raises SqlError for invalid or unsupported SQL, CatalogError for an unknown table.
    """
    tree = desugared(parse(query))
    check(tree)
    written = [e.args["alias"].this if isinstance(e, exp.Alias) else None for e in tree.selects]
    optimised = coerced(optimise(tree, source))
    planner = Planner(source, {t.name.lower(): t.name for t in tree.find_all(exp.Table)})
    with one_memory_reading():
        relation = planner.query(optimised)
    return Query(query, optimised, _as_written(relation.frame, written, planner.stored),
                 tuple(planner.steps))


def _as_written(frame: dd.DataFrame, written: list[str | None], stored: dict[str, str]
                ) -> dd.DataFrame:
    """``frame`` with its columns named as DuckDB names them: the optimiser folds identifiers
    to lower case, and DuckDB keeps an alias as written (``AS "Total"``) and a column's name
    as its table stores it (``ResidentID``)."""
    if len(written) != len(frame.columns):  # a * among the outputs: no alias to line up
        written = [None] * len(frame.columns)
    names = {}
    for column, alias in zip(frame.columns, written, strict=True):
        name = alias if alias is not None else stored.get(column, column)
        if name != column and name.lower() == column.lower():
            names[column] = name
    return frame.rename(columns=names) if names else frame


def sql(source: TableSource, query: str) -> dd.DataFrame:
    """The lazy result of ``query`` over ``source`` (see :func:`plan`)."""
    return plan(source, query).frame

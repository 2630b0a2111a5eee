"""The errors of :mod:`compute.sql`: a query that cannot be planned (:class:`SqlError`), and
data that a query cannot compute (:class:`ConversionError`, :class:`SeveralRowsError`)."""

from __future__ import annotations

from sqlglot import exp

from compute.exceptions import ParameterError


class SqlError(ParameterError):
    """A query is invalid or uses SQL the engine does not support; raised by planning.

    ``construct`` names the SQL construct, ``line``/``col`` where it is (when known).
    """

    def __init__(self, message: str, construct: str = "", line: int | None = None,
                 col: int | None = None) -> None:
        where = f" (line {line}, column {col})" if line is not None else ""
        super().__init__(f"{message}{where}")
        self.construct = construct
        self.line = line
        self.col = col


def unsupported(node: exp.Expr, what: str | None = None) -> SqlError:
    """The planning error for ``node``: names its construct and, when known, its position."""
    construct = what or node.key.upper()
    line, col = position(node)
    return SqlError(f"unsupported SQL: {construct} in {_excerpt(node)}", construct, line, col)


def position(node: exp.Expr) -> tuple[int | None, int | None]:
    """Line and column of ``node`` or its first descendant that the parser placed."""
    for candidate in node.walk():
        meta = candidate.meta if candidate.meta else None
        if meta and "line" in meta:
            return meta["line"], meta.get("col")
    return None, None


def _excerpt(node: exp.Expr) -> str:
    text = node.sql()
    return repr(text if len(text) <= 80 else text[:77] + "...")


class ConversionError(ValueError):
    """A string the query casts is no value of the type (``CAST('x' AS INTEGER)``): an error
    in the data, raised while computing, naming the value and the type."""


class SeveralRowsError(ValueError):
    """A scalar subquery gave several rows for a row of its query (a lookup of a key held
    twice): an error in the data, raised while computing, as DuckDB raises it."""

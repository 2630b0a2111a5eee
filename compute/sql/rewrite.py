"""Parse, check and optimise a query with sqlglot, before any Dask graph is built.

The optimiser is sqlglot's own rule list with one rule in front of ``unnest_subqueries``:
:func:`semi_joins` turns ``[NOT] EXISTS`` and ``[NOT] IN`` subqueries of a WHERE clause into
SEMI / ANTI joins (their correlated conditions become the join condition, equalities and
others alike). sqlglot's own unnesting handles what remains (scalar subqueries), and would
otherwise turn a correlated non-equality (TPC-H Q21) into array aggregates.
A NOT IN becomes an ANTI join whose alias starts with :data:`NULL_AWARE`: SQL's NOT IN is
NULL (so false) for every row once the subquery yields a NULL, and the executor honours it.
"""

from __future__ import annotations

import itertools
import re

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer import optimizer
from sqlglot.optimizer.unnest_subqueries import unnest_subqueries
from sqlglot.transforms import eliminate_qualify

from compute.sql.errors import SqlError, position, unsupported
from compute.sql.functions import FUNCTIONS
from compute.sql.source import TableSource
from compute.sql.translate import CAST_TYPES, cast_value, identity, only_value

DIALECT = "duckdb"
NULL_AWARE = "_notin_"


def parse(query: str) -> exp.Expr:
    """The query's syntax tree; a syntax error or more than one statement is a SqlError."""
    try:
        statements = sqlglot.parse(query, read=DIALECT)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        raise SqlError(
            f"invalid SQL: {first.get('description', error)}", "syntax",
            first.get("line"), first.get("col"),
        ) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        raise SqlError(f"expected one statement, got {len(statements)}", "statement")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise unsupported(statement, f"statement {statement.key.upper()}")
    return statement


# The parts of each of these nodes that the executor reads (a SELECT, a join, a table, a
# LIMIT, a window and its frame, a GROUP BY, an ORDER BY term, MIN and MAX): any other (an
# ASOF or NATURAL join, TABLESAMPLE, LIMIT ... PERCENT, a frame's EXCLUDE, a clause that a
# new sqlglot parses) is refused by name rather than dropped without a word.
_READ = {
    exp.Select: {"with_", "expressions", "distinct", "from_", "joins", "where", "group",
                 "having", "order", "limit", "offset"},
    exp.Join: {"this", "on", "side", "kind", "using"},
    exp.Table: {"this", "alias", "db", "catalog"},
    exp.Limit: {"this", "expression"},
    exp.Fetch: {"direction", "count"},
    exp.Window: {"this", "partition_by", "order", "spec", "over"},
    exp.WindowSpec: {"kind", "start", "start_side", "end", "end_side"},
    exp.Group: {"expressions", "grouping_sets", "cube", "rollup", "all"},
    exp.Ordered: {"this", "desc", "nulls_first"},
    exp.Max: {"this"},  # MAX(x, n): DuckDB's list of the n largest
    exp.Min: {"this"},
}
_NAMED = {"method": "{method} JOIN", "sample": "TABLESAMPLE (USING SAMPLE)",
          "limit_options": "LIMIT with PERCENT or WITH TIES", "match_condition": "MATCH_CONDITION",
          "from_": "FROM", "with_": "WITH", "for_": "FOR", "exclude": "EXCLUDE",
          "alias": "OVER a window that no WINDOW clause names",
          "count": "MIN or MAX of the n least or greatest (a list)"}


def _unread(node: exp.Expr) -> str | None:
    """The construct of a part of ``node`` that the executor would not read, if any."""
    read = _READ.get(type(node))
    if read is None:
        return None
    for key, value in node.args.items():
        if key not in read and value not in (None, [], False, ""):
            if key == "limit_options" and not (value.args.get("percent")
                                               or value.args.get("with_ties")):
                continue  # FETCH FIRST n ROWS ONLY: a plain LIMIT
            return _NAMED.get(key, key.upper()).format(
                method=str(value).upper() if isinstance(value, str) else key)
    return None


def check(tree: exp.Expr) -> None:
    """Refuse, with their position, the constructs that are known unsupported."""
    for node in tree.walk():
        construct = _unread(node)
        if construct is not None:
            raise unsupported(node, construct)
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise unsupported(node, "recursive CTE (WITH RECURSIVE)")
        if isinstance(node, exp.Lateral):
            raise unsupported(node, "LATERAL join")
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
            raise unsupported(node, f"table function {node.this.sql_name()}")
        if isinstance(node, exp.IgnoreNulls):
            raise unsupported(node, "IGNORE NULLS")
        if isinstance(node, (exp.Unnest, exp.Values, exp.Pivot)):
            raise unsupported(node, node.key.upper())
        if isinstance(node, exp.Anonymous) and node.name.lower() not in FUNCTIONS:
            raise unsupported(node, f"unknown function {node.name}")
        if _is_scalar_subquery(node) and not _one_row(node.this) and not _in_select_list(node):
            # sqlglot would unnest it into a join, repeating rows instead of failing
            raise _several_rows(node)


def _several_rows(node: exp.Subquery) -> SqlError:
    return unsupported(node, "scalar subquery that may return more than one row "
                             "(aggregate it, or LIMIT 1)")


def _in_select_list(node: exp.Subquery) -> bool:
    """Whether ``node`` stands in an item of its query's SELECT list, where
    :func:`scalar_joins` takes a lookup tied to the query by equalities, or refuses it."""
    child, parent = node, node.parent
    while parent is not None and not isinstance(parent, exp.Select):
        child, parent = parent, parent.parent
    return parent is not None and child.arg_key == "expressions"


def desugared(tree: exp.Expr) -> exp.Expr:
    """``tree`` with shorthands spelled out in what the executor runs (each as PostgreSQL
    and DuckDB define it):

    - ``agg(x) FILTER (WHERE c)``: ``agg(CASE WHEN c THEN x END)``, and ``COUNT(*) FILTER
      (WHERE c)`` counts ``CASE WHEN c THEN 1 END``;
    - ``NULLIF(a, b)``: ``CASE WHEN a = b THEN NULL ELSE a END``;
    - ``a IS [NOT] DISTINCT FROM b``: a CASE on which is NULL (see :func:`_null_safe`);
    - ``x = ANY (subquery)``: ``x IN (subquery)``;
    - ``STARTS_WITH(s, 'p')``, ``ENDS_WITH``, ``CONTAINS``: ``s LIKE 'p%'``, ``'%p'``,
      ``'%p%'`` (a ``p`` holding ``%`` or ``_`` is left, and refused as a function);
    - ``VAR_SAMP(x)``, ``VAR_POP``, ``STDDEV_SAMP``, ``STDDEV_POP`` (``VARIANCE``,
      ``STDDEV``): from ``COUNT``, ``SUM`` and the ``SUM`` of squares of ``CAST(x AS
      DOUBLE)``, which the aggregation reduces with the other aggregates (not in a window);
    - ``DATE_DIFF('unit', a, b)``: the year, quarter or month boundaries between ``a`` and
      ``b`` from their parts, and the days as ``CAST(b AS DATE) - CAST(a AS DATE)``;
    - ``DATE_PART('part', d)``, ``YEAR(d)``, ``MONTH(d)``, ...: ``EXTRACT(part FROM d)``;
    - ``TRY_STRPTIME(s, f)``: ``STRPTIME`` that gives NULL where ``s`` does not parse;
    - ``MEDIAN(x)``: ``QUANTILE_CONT(x, 0.5)``; ``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY
      x)``: ``QUANTILE_CONT(x, q)`` (of ``1 - q`` for a descending order);
    - ``COUNT_IF(c)``: ``SUM(CASE WHEN c THEN 1 ELSE 0 END)``, NULL over no rows as DuckDB's;
      ``ANY_VALUE(x)``: ``MIN(x)``, one of the group's non-NULL values;
    - ``BOOL_AND(c)``, ``BOOL_OR(c)``: whether the ``MIN`` (``MAX``) of ``CASE WHEN
      c THEN 1 WHEN NOT c THEN 0 END`` is 1, NULL where every ``c`` is;
    - ``QUALIFY c``: the query in FROM of one filtered by ``c`` (sqlglot's own transform),
      with its ORDER BY and LIMIT applied after that filter;
    - ``ORDER BY ALL``: by the positions of every output column, in order;
    - ``SELECT DISTINCT ON (k) ... ORDER BY o``: ``QUALIFY ROW_NUMBER() OVER (PARTITION BY k
      ORDER BY o) = 1``, each k's first row;
    - ``OVER w ... WINDOW w AS (...)``: each window named in a WINDOW clause written out
      where it is used.
    """
    return tree.transform(_named_windows).transform(_spelled_out).transform(
        _limited_after_qualify).transform(eliminate_qualify)


def _named_windows(node: exp.Expr) -> exp.Expr:
    """A SELECT's ``OVER w`` and ``OVER (w ROWS ...)`` with the window ``w`` of its WINDOW
    clause written out; a named window may build on an earlier one (``w2 AS (w ORDER BY
    x)``), as in PostgreSQL and DuckDB."""
    if not (isinstance(node, exp.Select) and node.args.get("windows")):
        return node
    named: dict[str, exp.Window] = {}
    for window in node.args["windows"]:
        named[window.name.lower()] = _on_named(window, named)
    node.set("windows", None)
    for window in list(node.find_all(exp.Window)):
        if window.args.get("alias") is not None and window.find_ancestor(exp.Select) is node:
            window.replace(_on_named(window, named))
    return node


_WINDOW_CLAUSES = {"partition_by": "PARTITION BY", "order": "ORDER BY", "spec": "a frame"}


def _on_named(window: exp.Window, named: dict[str, exp.Window]) -> exp.Window:
    """``window`` with the PARTITION BY, ORDER BY and frame of the named window it builds on
    (its ``alias``), if any; its own ORDER BY or frame added to them."""
    base_name = window.args.get("alias")
    if base_name is None:
        return window
    base = named.get(base_name.name.lower())
    if base is None:
        raise unsupported(window, f"window {base_name.name}: no such window in the WINDOW "
                                  "clause")
    for clause, written in _WINDOW_CLAUSES.items():
        if window.args.get(clause) and base.args.get(clause):
            raise unsupported(window, f"{written} over window {base_name.name}, which has "
                                      "one")
    spelled = window.copy()
    spelled.set("alias", None)
    for clause in _WINDOW_CLAUSES:
        if not spelled.args.get(clause) and base.args.get(clause):
            spelled.set(clause, base.args[clause].copy() if isinstance(
                base.args[clause], exp.Expr) else [e.copy() for e in base.args[clause]])
    return spelled


def _limited_after_qualify(node: exp.Expr) -> exp.Expr:
    """``... QUALIFY c ORDER BY o LIMIT n`` as a query in FROM filtered by ``c``, then ordered
    and limited: sqlglot's eliminate_qualify keeps ORDER BY and LIMIT inside, where the LIMIT
    cut the rows before QUALIFY filtered them. An ORDER BY key that is no output column is
    carried out of the inner query as ``_o<i>``."""
    if not (isinstance(node, exp.Select) and node.args.get("qualify") is not None
            and (node.args.get("limit") is not None or node.args.get("offset") is not None)):
        return node
    inner = node.copy()
    for clause in ("order", "limit", "offset"):
        inner.set(clause, None)
    # an unnamed output (COUNT(*)) is named as the optimiser would name it
    inner.set("expressions", [e if e.alias_or_name else exp.alias_(e, f"_col_{i}")
                              for i, e in enumerate(inner.expressions)])
    outputs = [e.alias_or_name for e in inner.expressions]
    starred = any(isinstance(e.unalias(), exp.Star) for e in node.expressions)
    keys = []
    for i, ordered in enumerate((node.args.get("order") or exp.Order()).expressions):
        key = ordered.this
        if key.is_int and 0 < key.to_py() <= len(outputs) and not starred:
            key = exp.column(outputs[key.to_py() - 1])
        elif not (isinstance(key, exp.Column) and not key.table and key.name in outputs):
            if starred:
                raise unsupported(ordered, "QUALIFY with LIMIT, ordered by a value not in the "
                                           "SELECT list, of SELECT *")
            inner.select(exp.alias_(key.copy(), f"_o{i}"), copy=False)
            key = exp.column(f"_o{i}")
        keys.append(exp.Ordered(this=key, desc=ordered.args.get("desc"),
                                nulls_first=ordered.args.get("nulls_first")))
    outer = exp.select(*([exp.Star()] if starred else [exp.column(n) for n in outputs])).from_(
        inner.subquery("_qualified"))
    if keys:
        outer.set("order", exp.Order(expressions=keys))
    for clause in ("limit", "offset"):
        outer.set(clause, node.args.get(clause))
    return outer


def _spelled_out(node: exp.Expr) -> exp.Expr:
    """``node`` with its shorthand spelled out, and those inside what replaces it: sqlglot's
    transform does not walk into a node that its function replaced."""
    new = _spelled_out_once(node)
    return node if new is node else new.transform(_spelled_out, copy=False)


def _null_safe(node: exp.NullSafeEQ | exp.NullSafeNEQ) -> exp.Expr:
    """``a IS NOT DISTINCT FROM b`` (TRUE or FALSE, never NULL): ``CASE WHEN a IS NULL THEN
    b IS NULL WHEN b IS NULL THEN FALSE ELSE a = b END``; ``IS DISTINCT FROM``: its NOT."""
    a, b = node.this, node.expression
    same = exp.Case(ifs=[
        exp.If(this=exp.Is(this=a.copy(), expression=exp.Null()),
               true=exp.Is(this=b.copy(), expression=exp.Null())),
        exp.If(this=exp.Is(this=b.copy(), expression=exp.Null()), true=exp.false())],
        default=exp.EQ(this=a.copy(), expression=b.copy()))
    return same if isinstance(node, exp.NullSafeEQ) else exp.Not(this=exp.paren(same))


def _spelled_out_once(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Select) and isinstance(node.args.get("distinct"), exp.Distinct) \
            and node.args["distinct"].args.get("on") is not None:
        return _distinct_on(node)
    if isinstance(node, exp.Order) and isinstance(node.parent, exp.Query) and any(
            isinstance(o.this, exp.Var) and o.this.name.upper() == "ALL"
            for o in node.expressions):
        return _ordered_by_all(node, node.parent)
    if isinstance(node, exp.Filter):
        return _filtered_aggregate(node)
    if isinstance(node, exp.Nullif):
        value = node.this
        return exp.Case(ifs=[exp.If(this=exp.EQ(this=value.copy(), expression=node.expression),
                                    true=exp.Null())], default=value.copy())
    if isinstance(node, (exp.NullSafeEQ, exp.NullSafeNEQ)):
        return _null_safe(node)
    if isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any) \
            and isinstance(node.expression.this, (exp.Query, exp.Subquery)):
        return exp.In(this=node.this, query=node.expression.this)
    if isinstance(node, tuple(SPREADS)) and not isinstance(node.this, exp.Distinct) \
            and not isinstance(node.parent, exp.Window):
        return _spread(node)
    if type(node) in DATE_PARTS:
        return exp.Extract(this=exp.var(DATE_PARTS[type(node)]), expression=node.this.copy())
    if isinstance(node, exp.Anonymous) and node.name.lower() == "try_strptime" \
            and len(node.expressions) == 2:
        return exp.StrToTime(this=node.expressions[0].copy(),
                             format=node.expressions[1].copy(), safe=True)
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_part", "datepart") \
            and len(node.expressions) == 2 and node.expressions[0].is_string:
        return exp.Extract(this=exp.var(node.expressions[0].name),
                           expression=node.expressions[1].copy())
    if isinstance(node, exp.Median) and not isinstance(node.parent, exp.Window):
        return exp.PercentileCont(this=node.this.copy(), expression=exp.Literal.number(0.5))
    if isinstance(node, exp.WithinGroup) \
            and isinstance(node.this, (exp.PercentileCont, exp.PercentileDisc)) \
            and len(node.expression.expressions) == 1:
        return _within_group(node)
    if isinstance(node, exp.CountIf):
        return exp.Sum(this=exp.Case(ifs=[exp.If(this=node.this.copy(),
                                                 true=exp.Literal.number(1))],
                                     default=exp.Literal.number(0)))
    if isinstance(node, (exp.LogicalAnd, exp.LogicalOr)) \
            and not isinstance(node.parent, exp.Window):
        # whether the least (greatest) of the non-NULL conditions as 1 and 0 is 1
        as_number = exp.Case(ifs=[exp.If(this=node.this.copy(), true=exp.Literal.number(1)),
                                  exp.If(this=exp.not_(node.this.copy()),
                                         true=exp.Literal.number(0))])
        extreme = exp.Min if isinstance(node, exp.LogicalAnd) else exp.Max
        return exp.EQ(this=extreme(this=as_number), expression=exp.Literal.number(1))
    if isinstance(node, exp.IgnoreNulls) and isinstance(node.this, exp.AnyValue):
        return exp.Min(this=node.this.this.copy())
    if isinstance(node, exp.DateDiff):
        return _date_difference(node)
    if isinstance(node, tuple(AFFIXES)) and isinstance(node.expression, exp.Literal) \
            and node.expression.is_string and not set(node.expression.this) & set("%_"):
        before, after = AFFIXES[type(node)]
        return exp.Like(this=node.this,
                        expression=exp.Literal.string(before + node.expression.this + after))
    return node


# YEAR(d) and the other date parts' functions, as the field EXTRACT takes
DATE_PARTS: dict[type[exp.Expr], str] = {
    exp.Year: "year", exp.Quarter: "quarter", exp.Month: "month", exp.Day: "day",
    exp.DayOfWeek: "dow", exp.DayOfYear: "doy", exp.DayOfWeekIso: "isodow", exp.Week: "week"}


# STARTS_WITH, ENDS_WITH and CONTAINS as the LIKE patterns around their literal text.
AFFIXES: dict[type[exp.Expr], tuple[str, str]] = {
    exp.StartsWith: ("", "%"), exp.EndsWith: ("%", ""), exp.Contains: ("%", "%")}


# The spread aggregates: whether each is a standard deviation (the root of a variance), and
# whether its variance is the sample's (divided by n - 1) or the population's (by n).
SPREADS: dict[type[exp.Expr], tuple[bool, bool]] = {
    exp.Variance: (False, True), exp.VariancePop: (False, False),
    exp.Stddev: (True, True), exp.StddevSamp: (True, True), exp.StddevPop: (True, False)}


def _spread(node: exp.Expr) -> exp.Expr:
    """A variance or standard deviation from sums; NULL for fewer than two values (one, for
    the population's), as DuckDB. A sum of squares minus the squared sum loses digits where
    the mean is many times the spread (relative error about 1e-16 times the square of their
    ratio: 1e-10 at a thousand times); it is kept at 0 or above."""
    root, sample = SPREADS[type(node)]

    def value() -> exp.Expr:
        return exp.cast(node.this.copy(), exp.DataType.Type.DOUBLE)

    count = exp.Count(this=value())
    squares = exp.Sum(this=exp.Mul(this=value(), expression=value()))
    total = exp.Sum(this=value())
    deviations = exp.Greatest(this=exp.Sub(this=squares, expression=exp.Div(
        this=exp.Mul(this=total, expression=total.copy()), expression=count.copy())),
        expressions=[exp.Literal.number(0)])
    divisor = exp.Sub(this=count.copy(), expression=exp.Literal.number(1)) if sample \
        else count.copy()
    variance: exp.Expr = exp.Div(this=deviations, expression=exp.paren(divisor))
    if root:
        variance = exp.Sqrt(this=variance)
    return exp.Case(ifs=[exp.If(this=exp.GT(this=count.copy(), expression=exp.Literal.number(
        1 if sample else 0)), true=variance)])


# DATE_DIFF's calendar units: the number of each in a year, and the date part that counts
# them within one (days are counted by DATE - DATE)
CALENDAR_UNITS = {"year": (1, None), "quarter": (4, "quarter"), "month": (12, "month")}


def _unit(node: exp.Expr) -> str:
    unit = node.args.get("unit")
    return unit.name.lower() if unit is not None else "day"


def _date_difference(node: exp.DateDiff) -> exp.Expr:
    """``DATE_DIFF(unit, a, b)``: DuckDB's count of unit boundaries from ``a`` to ``b``."""
    later, earlier, unit = node.this, node.expression, _unit(node)
    if unit == "day":
        return exp.paren(exp.Sub(this=exp.cast(later.copy(), exp.DataType.Type.DATE),
                                 expression=exp.cast(earlier.copy(), exp.DataType.Type.DATE)))
    if unit not in CALENDAR_UNITS:
        raise unsupported(node, f"DATE_DIFF in unit {unit}")
    per_year, part = CALENDAR_UNITS[unit]

    def ordinal(date: exp.Expr) -> exp.Expr:
        year = exp.Extract(this=exp.var("year"), expression=date.copy())
        if part is None:
            return year
        return exp.Add(this=exp.Mul(this=year, expression=exp.Literal.number(per_year)),
                       expression=exp.Extract(this=exp.var(part), expression=date.copy()))

    return exp.paren(exp.Sub(this=ordinal(later), expression=ordinal(earlier)))


def _within_group(node: exp.WithinGroup) -> exp.Expr:
    """``PERCENTILE_CONT(q) WITHIN GROUP (ORDER BY x [DESC])``: ``QUANTILE_CONT(x, q)``, or
    of ``1 - q`` for a descending order; ``PERCENTILE_DISC``: ``QUANTILE_DISC(x, q)``."""
    fraction, ordered = node.this.this, node.expression.expressions[0]
    if isinstance(node.this, exp.PercentileDisc):
        if ordered.args.get("desc"):  # the ceil(n q)-th from the top is no 1 - q from below
            raise unsupported(node, "PERCENTILE_DISC in a descending order")
        return exp.PercentileDisc(this=ordered.this.copy(), expression=fraction.copy())
    if ordered.args.get("desc"):
        fraction = exp.Sub(this=exp.Literal.number(1), expression=fraction.copy())
    return exp.PercentileCont(this=ordered.this.copy(), expression=fraction.copy())


def _distinct_on(select: exp.Select) -> exp.Select:
    """``SELECT DISTINCT ON (k) ... ORDER BY o``: each k's first row by o (any row without
    one), as ``QUALIFY ROW_NUMBER() OVER (PARTITION BY k ORDER BY o) = 1``."""
    on = select.args["distinct"].args["on"]
    order = select.args.get("order")
    ordered = order.expressions if order is not None else []
    if any(o.this.is_int for o in ordered) or select.args.get("qualify") is not None:
        raise unsupported(select.args["distinct"], "DISTINCT ON with ORDER BY a position, or "
                                                   "with QUALIFY")
    first = exp.Window(
        this=exp.RowNumber(),
        partition_by=[k.copy() for k in (on.expressions if isinstance(on, exp.Tuple) else [on])],
        order=exp.Order(expressions=[o.copy() for o in ordered]) if ordered else None)
    select = select.copy()
    select.set("distinct", None)
    select.set("qualify", exp.Qualify(this=exp.EQ(this=first, expression=exp.Literal.number(1))))
    return select


def _ordered_by_all(order: exp.Order, query: exp.Query) -> exp.Order:
    """``ORDER BY ALL [DESC]``: by each output column from the first, as their positions."""
    if len(order.expressions) != 1:
        raise unsupported(order, "ORDER BY ALL beside other keys")
    if any(isinstance(e.unalias(), exp.Star) for e in query.selects):
        raise unsupported(order, "ORDER BY ALL of SELECT *")
    every = order.expressions[0]
    return exp.Order(expressions=[
        exp.Ordered(this=exp.Literal.number(position), desc=every.args.get("desc"),
                    nulls_first=every.args.get("nulls_first"))
        for position in range(1, len(query.selects) + 1)])


def _filtered_aggregate(node: exp.Filter) -> exp.Expr:
    """The aggregate of a FILTER with its value NULL outside the condition: every aggregate
    here skips NULL values, and ARG_MAX a row whose value is NULL."""
    aggregate, condition = node.this, node.expression.this
    if not isinstance(aggregate, exp.AggFunc) or aggregate.expressions or (
            aggregate.args.get("expression") is not None
            and not isinstance(aggregate, (exp.ArgMax, exp.ArgMin, exp.PercentileCont,
                                           exp.PercentileDisc))):
        raise unsupported(node, "FILTER on anything but an aggregate of one argument")
    argument = aggregate.this
    order = argument if isinstance(argument, exp.Order) else None  # STRING_AGG(x ORDER BY y)
    if order is not None:
        argument = order.this
    distinct = isinstance(argument, exp.Distinct)
    values = argument.expressions if distinct else [argument]
    if len(values) != 1:
        raise unsupported(node, "FILTER on an aggregate of several values")
    value = exp.Literal.number(1) if isinstance(values[0], exp.Star) else values[0]
    kept: exp.Expr = exp.Case(ifs=[exp.If(this=condition, true=value)])
    if distinct:
        kept = exp.Distinct(expressions=[kept])
    if order is not None:
        kept = exp.Order(this=kept, expressions=order.expressions)
    aggregate = aggregate.copy()
    aggregate.set("this", kept)
    return aggregate


def _is_scalar_subquery(node: exp.Expr) -> bool:
    return isinstance(node, exp.Subquery) and not isinstance(
        node.parent, (exp.From, exp.Join, exp.In, exp.Exists, exp.CTE, exp.SetOperation,
                      exp.Subquery, exp.Lateral)) and node.parent is not None


def _one_row(query: exp.Expr) -> bool:
    """Whether ``query`` returns at most one row whatever the data."""
    if not isinstance(query, exp.Select):
        return False
    limit = query.args.get("limit")
    if limit is not None and limit.expression.name == "1":
        return True
    return query.args.get("group") is None and all(
        any(a.find_ancestor(exp.Window) is None for a in e.find_all(exp.AggFunc))
        for e in query.expressions)


def optimise(tree: exp.Expr, source: TableSource) -> exp.Expr:
    """The optimised, fully qualified tree, with the tables' schemas from ``source``."""
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table) if t.name not in ctes}
    schema = {name: _sql_types(source.schema(name)) for name in sorted(tables)}
    rules = []
    for rule in optimizer.RULES:
        if rule is unnest_subqueries:
            rules += [semi_joins, scalar_joins]
        rules.append(rule)
        if rule is unnest_subqueries:
            rules.append(identity_groups)
    try:
        return optimizer.optimize(tree, schema=schema, dialect=DIALECT, rules=rules)
    except sqlglot.errors.OptimizeError as error:
        raise SqlError(f"invalid query: {error}", "query") from None


COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
NUMBERS = exp.DataType.NUMERIC_TYPES
DATES = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ}


def coerced(tree: exp.Expr) -> exp.Expr:
    """``tree`` (optimised: typed) with DuckDB's implicit casts where a comparison, IN or
    BETWEEN meets a string and a number or a date: a string literal becomes a value of the
    other side's type (``division_code = '110101'``), a string column is cast to it. pandas
    would compare ``'1'`` with ``1`` as unequal: no row, and no error. A literal that is no
    number or date is refused here."""
    for node in list(tree.find_all(*COMPARISONS, exp.In, exp.Between)):
        if isinstance(node, exp.In):
            others = [] if node.args.get("query") else node.expressions
        elif isinstance(node, exp.Between):
            others = [node.args["low"], node.args["high"]]
        else:
            others = [node.expression]
        for other in others:
            _coerce(node.this, other)
            _coerce(other, node.this)
    for cast in tree.find_all(exp.Cast):  # sqlglot's own casts of literals too
        if isinstance(cast.this, exp.Literal) and cast.this.is_string \
                and not isinstance(cast, exp.TryCast):
            _typed_literal(cast.this, cast.to)
    return tree


def _coerce(typed: exp.Expr, other: exp.Expr) -> None:
    """``other``, a string, as a value of ``typed``'s type when that is a number or a date."""
    kind = typed.unnest().type
    if kind is None or kind.this not in NUMBERS | DATES:
        return
    if isinstance(other, exp.Literal) and other.is_string:
        other.replace(_typed_literal(other, kind))
    elif other.type is not None and other.type.this in exp.DataType.TEXT_TYPES:
        cast = exp.cast(other.copy(), kind)
        cast.type = kind
        other.replace(cast)


def _typed_literal(literal: exp.Literal, kind: exp.DataType) -> exp.Expr:
    """A string literal compared with (or cast to) a ``kind`` as CAST reads it: a number, or
    a CAST to the date (which the scan takes as a filter); refused when it is none."""
    if kind.this not in NUMBERS | DATES:
        return literal
    target = "date" if kind.this in DATES else CAST_TYPES.get(kind.this, "float64")
    value = cast_value(literal.this, target, strict=False)
    if value is None:
        line, col = position(literal)
        what = "date (YYYY-MM-DD)" if target == "date" else "number"
        raise SqlError(f"{literal.sql()} is no {what}", "literal", line, col)
    if target != "date":
        return exp.Literal.number(value)
    cast = exp.cast(exp.Literal.string(literal.this.strip()), kind)
    cast.type = kind
    return cast


def semi_joins(expression: exp.Expr) -> exp.Expr:
    """[NOT] EXISTS / [NOT] IN conjuncts of WHERE clauses as SEMI / ANTI joins."""
    names = (f"_sq_{n}" for n in itertools.count())
    for select in list(expression.find_all(exp.Select)):
        where = select.args.get("where")
        if where is None:
            continue
        kept, joins = [], []
        for conjunct in _terms(where):
            join = _as_join(conjunct, select, next(names))
            if join is None:
                kept.append(conjunct)
            else:
                joins.append(join)
        if joins:
            select.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
            select.set("joins", [*select.args.get("joins", []), *joins])
    return expression


def scalar_joins(expression: exp.Expr) -> exp.Expr:
    """Uncorrelated aggregate subqueries (one row each) in a SELECT list, as columns of those
    rows cross-joined to the query: ``SELECT (SELECT COUNT(*) FROM a) AS n, x FROM t``; in an
    aggregating SELECT, outside its aggregates, as MIN of the column. sqlglot's unnesting
    takes them only inside a condition of a query with a FROM."""
    names = (f"_scalar_{n}" for n in itertools.count())
    for select in list(expression.find_all(exp.Select)):
        aggregated = select.args.get("group") is not None or any(
            agg.find_ancestor(exp.Select) is select and not isinstance(agg.parent, exp.Window)
            for item in select.expressions for agg in item.find_all(exp.AggFunc))
        for item in select.expressions:
            for found in list(item.find_all(exp.Subquery)):
                inner = found.this
                if found.find_ancestor(exp.Select) is not select:
                    continue
                grouped = None if aggregated or select.args.get("from_") is None \
                    else _grouped_join(inner, select, next(names))
                if grouped is not None:
                    select.append("joins", grouped[0])
                    found.replace(grouped[1])
                    continue
                _refuse_unequal_correlation(found, select)
                if not _one_row(inner):  # a lookup that the join above did not take
                    raise _several_rows(found)
                if not _own_aggregate(inner):
                    continue
                alias = next(names)
                source = exp.Subquery(this=inner.copy(),
                                      alias=exp.TableAlias(this=exp.to_identifier(alias)))
                if select.args.get("from_") is None:
                    select.set("from_", exp.From(this=source))
                else:
                    select.append("joins", exp.Join(this=source, kind="CROSS"))
                value = exp.column(inner.expressions[0].alias_or_name, alias)
                outer_aggregate = found.find_ancestor(exp.AggFunc)
                if aggregated and (outer_aggregate is None
                                   or outer_aggregate.find_ancestor(exp.Select) is not select):
                    # in a grouped SELECT, outside its aggregates: the one value, as MIN of
                    # it (COUNT(*) * 100.0 / (SELECT COUNT(*) FROM t), a share of the total)
                    value = exp.Min(this=value)
                found.replace(value)
    return expression


def _grouped_join(inner: exp.Expr, outer: exp.Select, alias: str
                  ) -> tuple[exp.Join, exp.Expr] | None:
    """A correlated subquery in ``outer``'s SELECT list, tied to it only by equalities
    AND-ed in its WHERE (``inner.k = outer.k``), wherever it stands in an expression
    (``COALESCE((SELECT SUM(x) ... WHERE t.k = o.k), 0)``), as a LEFT JOIN of its value
    grouped by those columns, and the value to put in its place: an aggregate's (a COUNT's
    0 where no row matches), or a lookup's one value (``translate.only_value``: DuckDB's error
    where several rows give one). None for other subqueries. sqlglot's unnesting takes only
    one that is the whole SELECT item, and a lookup's several rows as their MAX."""
    if not isinstance(inner, exp.Select) or len(inner.expressions) != 1 or any(
            inner.args.get(a) for a in ("group", "having", "limit", "offset", "qualify",
                                        "with_", "distinct")):
        return None
    value = inner.expressions[0].unalias()
    lookup = not _one_row(inner)  # its rows' one value, or DuckDB's error where several
    if not (lookup or isinstance(value, exp.AggFunc)) or value.find(exp.Window):
        return None
    local, outside = _sources(inner), _sources(outer)
    keys, kept = [], []
    for term in _terms(inner.args.get("where")):
        if not _tables(term) - local:
            kept.append(term)
            continue
        # inner.k = outer.k, either way round: (inner side, outer side)
        pairs = [(own, other) for own, other in ((term.this, term.expression),
                                                 (term.expression, term.this))
                 if _tables(own) and _tables(own) <= local
                 and _tables(other) and _tables(other) <= outside - local]
        if not isinstance(term, exp.EQ) or not pairs:
            return None
        keys.append(pairs[0])
    lifted = {id(c) for _, other in keys for c in other.find_all(exp.Column)}
    if not keys or any(c.table not in local and id(c) not in lifted
                       for c in inner.find_all(exp.Column)):
        return None
    derived = inner.copy()
    derived.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    values = [exp.Min(this=value.copy()), exp.Count(this=exp.Star())] if lookup \
        else [value.copy()]
    derived.set("expressions", [*(exp.alias_(v, f"_v{i}") for i, v in enumerate(values)), *(
        exp.alias_(own.copy(), f"_k{i}") for i, (own, _) in enumerate(keys))])
    derived.set("group", exp.Group(expressions=[own.copy() for own, _ in keys]))
    join = exp.Join(this=exp.Subquery(this=derived, alias=exp.TableAlias(
        this=exp.to_identifier(alias))), side="LEFT", on=exp.and_(*(
            exp.EQ(this=exp.column(f"_k{i}", alias), expression=other.copy())
            for i, (_, other) in enumerate(keys))))
    found = exp.column("_v0", alias)
    if lookup:
        found = only_value(found, exp.column("_v1", alias))
    elif isinstance(value, (exp.Count, exp.CountIf)):  # counts no row as 0, not NULL
        found = exp.Coalesce(this=found, expressions=[exp.Literal.number(0)])
    return join, found


def identity_groups(expression: exp.Expr) -> exp.Expr:
    """The group keys of the subqueries that unnesting made LEFT JOINs of (sqlglot's
    ``_u_<n>``, :func:`scalar_joins`' ``_scalar_<n>``) grouped by identity
    (``translate.identity``): the join matches an identifier column by its normalised value,
    so grouping by the value as held gave an outer row one match per way of writing its ID
    (a resident written twice was counted, and listed, twice)."""
    for join in list(expression.find_all(exp.Join)):
        derived = join.this
        if not (isinstance(derived, exp.Subquery) and join.side == "LEFT"
                and _UNNESTED.match(derived.alias_or_name)
                and isinstance(derived.this, exp.Select)
                and derived.this.args.get("group") is not None):
            continue
        group = derived.this.args["group"]
        columns = {key for key in group.expressions if isinstance(key, exp.Column)}
        for key in list(group.expressions):
            if key in columns:
                key.replace(identity(key.copy()))
        for item in derived.this.expressions:
            if item.unalias() in columns:
                item.unalias().replace(identity(item.unalias().copy()))
    return expression


_UNNESTED = re.compile(r"^_(u|scalar)_\d+$")


def _refuse_unequal_correlation(found: exp.Subquery, outer: exp.Select) -> None:
    """Refuse a subquery of a SELECT list tied to its query by a WHERE term other than an
    equality: no unnesting takes it, and it would fail later naming a column."""
    inner = found.this
    if not isinstance(inner, exp.Select):
        return
    outside = _sources(outer) - _sources(inner)
    for term in _terms(inner.args.get("where")):
        if not isinstance(term, exp.EQ) and _tables(term) & outside:
            raise unsupported(term, "a subquery in the SELECT list tied to its query by a "
                                    "condition other than an equality (write it as a join)")


def _own_aggregate(query: exp.Expr) -> bool:
    """Whether ``query`` is exactly one row, an aggregate of its own tables: one aggregate
    value, no GROUP BY or HAVING, no column from outside it."""
    if not isinstance(query, exp.Select) or len(query.expressions) != 1 or any(
            query.args.get(a) for a in ("group", "having", "limit", "offset", "qualify")):
        return False
    value = query.expressions[0]
    if not value.find(exp.AggFunc) or value.find(exp.Window):
        return False
    own = {t.alias_or_name for t in query.find_all(exp.Table)} | {
        s.alias_or_name for s in query.find_all(exp.Subquery)}
    return all(column.table in own for column in query.find_all(exp.Column))


def _as_join(conjunct: exp.Expr, outer: exp.Select, name: str) -> exp.Join | None:
    negated = isinstance(conjunct, exp.Not)
    predicate = conjunct.this if negated else conjunct
    if isinstance(predicate, exp.Exists):
        inner, value = predicate.this, None
    elif isinstance(predicate, exp.In) and predicate.args.get("query") is not None:
        inner, value = predicate.args["query"].unnest(), predicate.this
    else:
        return None
    if not isinstance(inner, exp.Select) or inner.args.get("with_"):
        return None
    inner = inner.copy()
    local = _sources(inner)
    outer_sources = _sources(outer)
    # the subquery's conditions on columns from outside it are the join's condition
    lifted, kept = [], []
    for condition in _terms(inner.args.get("where")):
        (lifted if _tables(condition) - local else kept).append(condition)
    if any(_tables(cond) - local - outer_sources for cond in lifted):
        return None  # correlated with a query further out: left to sqlglot
    if lifted and (inner.args.get("group") or inner.args.get("limit")
                   or any(e.find(exp.AggFunc) for e in inner.expressions)):
        return None
    if lifted and negated and value is not None:
        # NOT IN's NULL rule holds per outer row's correlated set, not over the whole table
        raise unsupported(conjunct, "NOT IN with a correlated subquery")
    inner.set("where", exp.Where(this=exp.and_(*kept)) if kept else None)
    alias = f"{NULL_AWARE}{name}" if negated and value is not None else name
    projections: dict[str, exp.Expr] = {}
    on = []
    if isinstance(value, exp.Tuple):  # (a, b) IN (SELECT x, y ...): a = x AND b = y
        if negated:
            raise unsupported(conjunct, "NOT IN of a tuple")
        if len(value.expressions) != len(inner.expressions):
            raise unsupported(conjunct, f"IN of {len(value.expressions)} values and a "
                                        f"subquery of {len(inner.expressions)} columns")
        for i, (part, column) in enumerate(zip(value.expressions, inner.expressions,
                                               strict=True)):
            projections[f"_v{i}"] = column.unalias()
            on.append(exp.EQ(this=part, expression=exp.column(f"_v{i}", alias)))
    elif value is not None:
        projections["_v"] = inner.expressions[0].unalias()
        on.append(exp.EQ(this=value, expression=exp.column("_v", alias)))
    for condition in lifted:
        condition = condition.copy()
        for column in list(condition.find_all(exp.Column)):
            if column.table in local:
                label = f"_c{len(projections)}"
                projections[label] = column.copy()
                column.replace(exp.column(label, alias))
        on.append(condition)
    if not projections:
        projections["_c0"] = exp.Literal.number(1)
    inner.set("expressions", [exp.alias_(e, label) for label, e in projections.items()])
    if inner.args.get("distinct") is None and not on:
        inner.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    return exp.Join(
        this=exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias))),
        kind="ANTI" if negated else "SEMI",
        on=exp.and_(*on) if on else exp.true(),
    )


def _terms(where: exp.Where | None) -> list[exp.Expr]:
    """The AND-ed terms of a WHERE clause."""
    if where is None:
        return []
    return list(where.this.flatten()) if isinstance(where.this, exp.And) else [where.this]


def _tables(expression: exp.Expr) -> set[str]:
    """The tables (aliases) whose columns ``expression`` reads."""
    return {c.table for c in expression.find_all(exp.Column)}


def _sources(select: exp.Select) -> set[str]:
    from_ = select.args.get("from_")
    items = ([from_.this] if from_ else []) + [j.this for j in select.args.get("joins", [])]
    return {item.alias_or_name for item in items}


def _sql_types(schema: pa.Schema) -> dict[str, str]:
    return {field.name: _sql_type(field.type) for field in schema}


def _sql_type(arrow: pa.DataType) -> str:
    if pa.types.is_boolean(arrow):
        return "BOOLEAN"
    if pa.types.is_integer(arrow):
        return "BIGINT"
    if pa.types.is_decimal(arrow):  # held as doubles; the type says how DuckDB rounds it
        return f"DECIMAL({arrow.precision}, {arrow.scale})"
    if pa.types.is_floating(arrow):
        return "DOUBLE"
    if pa.types.is_date(arrow):
        return "DATE"
    if pa.types.is_timestamp(arrow):
        return "TIMESTAMPTZ" if arrow.tz else "TIMESTAMP"
    return "VARCHAR"

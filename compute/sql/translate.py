"""Column expressions: one translation table from sqlglot expression classes to operations on a
partition that pandas and cuDF share.

:func:`compile_expression` turns an optimised sqlglot expression into a function of one
partition (a DataFrame whose columns are the relation's labels) returning a Series or a
scalar. Everything is translated before anything runs: an expression class missing from
:data:`TRANSFORMS` is refused with :class:`SqlError` naming it. Comparisons follow SQL's
three-valued logic through the nullable ``boolean`` dtype, so ``NOT`` of a comparison with a
NULL stays NULL and filters drop it.

Every translation is an operation pandas and cuDF share with the same semantics; where they
differ, :mod:`compute.sql.frames` does it (NULL columns, AND/OR, division, remainder, date
parsing and offsets, LIKE). docs/gpu.md lists what was checked.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from compute.sql import frames
from compute.sql.errors import (
    ConversionError,
    SeveralRowsError,
    SqlError,
    position,
    unsupported,
)
from compute.sql.frames import is_column
from compute.sql.functions import FUNCTIONS
from compute.tables.dtypes import DATE_DTYPE, STRING_DTYPE

Fn = Callable[[pd.DataFrame], Any]
Compile = Callable[[exp.Expr], Fn]


def compile_expression(node: exp.Expr, labels: Mapping[str, str]) -> Fn:
    """``node`` as a function of a partition; ``labels`` maps column keys ("t.c" or "c")
    to the partition's column labels."""
    return _named(_compiler(labels)(node), node, labels, "sql-expression")


def compile_predicate(node: exp.Expr, labels: Mapping[str, str]) -> Fn:
    """The condition ``node`` (of a WHERE, HAVING or ON) as a function of a partition giving
    where it is TRUE: a plain boolean column (FALSE and NULL rows False), or a bool when no
    column is involved (:func:`true_rows` keeps those rows). Found with two-valued logic
    (see :func:`_truth`)."""
    return _named(_truth(node, True, _compiler(labels)), node, labels, "sql-predicate")


def _compiler(labels: Mapping[str, str]) -> Compile:
    def compile_node(child: exp.Expr) -> Fn:
        if isinstance(child, exp.Column):
            return _column(child, labels)
        translate = TRANSFORMS.get(type(child))
        if isinstance(child, exp.Anonymous) and child.name == ONLY_VALUE:
            translate = _only_value
        if translate is None and isinstance(child, exp.Func) and not isinstance(
                child, (exp.AggFunc, exp.Exists)):
            return _hub_function(child, compile_node)
        if translate is None:
            raise unsupported(child, _construct(child))
        compiled = translate(child, compile_node)
        if isinstance(child, _DECIMAL_ARITHMETIC):
            compiled = _exact_decimal(child, compiled)
        # x NOT LIKE p and its kin are parsed as the positive form with ``negate``
        return _negated(compiled) if child.args.get("negate") else compiled

    return compile_node


def _named(compiled: Fn, node: exp.Expr, labels: Mapping[str, str], kind: str) -> Fn:
    compiled.sql = node.sql(dialect="duckdb")  # names the expression in evaluation errors
    # The expression and the columns it reads on the partition say all the function does.
    return tokenized(compiled, kind, compiled.sql, tuple(sorted(labels.items())))


def tokenized(fn: Fn, *token: Any) -> Fn:
    """``fn`` with the Dask token ``token``. Dask names each task by a token of its
    function, and would pickle a closure to get one (a tenth of a TPC-H query's planning)."""
    fn.__dask_tokenize__ = lambda: token
    return fn


def _hub_function(node: exp.Func, compile_node: Compile) -> Fn:
    """A kernel of :data:`FUNCTIONS`, whether sqlglot parsed it by name (Anonymous) or as
    its own class (LEVENSHTEIN)."""
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    function = FUNCTIONS.get(name.lower())
    if function is None:
        known = "unknown" if isinstance(node, exp.Anonymous) else "unsupported"
        raise unsupported(node, f"{known} function {name}")
    operands = node.expressions if isinstance(node, exp.Anonymous) else [
        v for v in node.args.values() if isinstance(v, exp.Expr)]
    arguments = [compile_node(a) for a in operands]
    return lambda part: function(*(as_column(a(part), part) for a in arguments))


def column_key(column: exp.Column) -> str:
    """The key of a column reference: "table.column", or "column" when unqualified."""
    return f"{column.table}.{column.name}" if column.table else column.name


def evaluate(fn: Fn, part: pd.DataFrame) -> pd.Series:
    """``fn`` over ``part`` as a Series aligned with it (scalars broadcast)."""
    return as_column(fn(part), part)


def true_rows(mask: Any, part: pd.DataFrame) -> Any:
    """The rows of ``part`` where ``mask`` (a :func:`compile_predicate` function's value:
    plain booleans, or a bool) holds."""
    if not is_column(mask):
        return part if mask else part.iloc[:0]
    return part[mask]


def _construct(node: exp.Expr) -> str:
    if isinstance(node, exp.AggFunc):
        return f"aggregate {node.sql_name()} here"
    if isinstance(node, (exp.Subquery, exp.Select, exp.Exists)):
        return (f"subquery ({node.key.upper()}) here: subqueries are supported as WHERE "
                "conjuncts ([NOT] EXISTS, [NOT] IN, comparisons) and in FROM")
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    return node.key.upper()


def _column(node: exp.Column, labels: Mapping[str, str]) -> Fn:
    key = column_key(node)
    label = labels.get(key)
    if label is None and not node.table:
        matches = [v for k, v in labels.items() if k.rsplit(".", 1)[-1] == node.name]
        label = matches[0] if len(matches) == 1 else None
    if label is None:
        line, col = position(node)
        raise SqlError(f"unknown column {key!r}", "column", line, col)
    return lambda part: part[label]


def constant(value: Any, part: Any) -> Any:
    """A column of ``value`` aligned with ``part``, built by the partition's own library
    (None: a float64 column of NULLs, :func:`frames.missing`)."""
    if value is None:
        return frames.missing(part)
    column = part[[]].assign(_constant=value)["_constant"]
    dtype = _scalar_dtype(value)
    return column.astype(dtype) if dtype is not None else column


def as_column(value: Any, part: Any) -> Any:
    """``value`` as a column of ``part``: a column as it is, a scalar broadcast."""
    return value if is_column(value) else constant(value, part)


def _scalar_dtype(value: Any) -> Any:
    if isinstance(value, str):
        return STRING_DTYPE
    if isinstance(value, pd.Timestamp):
        return DATE_DTYPE
    return None


def _is_null(value: Any) -> Any:
    if is_column(value):
        return value.isna()
    return value is None or value is pd.NA or bool(isinstance(value, float) and np.isnan(value))


def _nullable(result: Any, *operands: Any) -> Any:
    """``result`` (boolean) as SQL sees it: NULL wherever an operand is NULL."""
    nulls = False
    for operand in operands:
        nulls = nulls | _is_null(operand)
    if not is_column(result):
        return None if nulls is True else result
    result = result.astype(frames.LOGICAL)
    return result.mask(nulls) if is_column(nulls) else result


def _binary(op: Callable[[Any, Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        return _combined(op, compile_node(node.this), compile_node(node.expression))

    return translate


def _combined(op: Callable[[Any, Any], Any], left: Fn, right: Fn) -> Fn:
    """``op`` of two operands, NULL where either is NULL; integers in 64 bits (see
    :func:`frames.widened`)."""
    def run(part: pd.DataFrame) -> Any:
        a, b = left(part), right(part)
        if _is_null(a) is True or _is_null(b) is True:
            return None
        a, b = frames.widened(a), frames.widened(b)
        return op(frames.calendar(a, b), frames.calendar(b, a))

    return run


def _integer_divide(node: exp.IntDiv, compile_node: Compile) -> Fn:
    """``a // b``: of two integers, the quotient rounded toward zero; of other numbers, the
    plain quotient (DuckDB's ``7.5 // 2`` is 3.75)."""
    whole = _is_integer(node.this) and _is_integer(node.expression)
    return _combined(frames.truncated_divide if whole else frames.true_divide,
                     compile_node(node.this), compile_node(node.expression))


def _dated(op: Callable[[Any, Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    """``a + b`` and ``a - b`` with DuckDB's date arithmetic, where the optimiser typed the
    operands: DATE - DATE is the days between (an integer), and DATE + or - an integer that
    many days on or back (a DATE); the engine's dates would give an interval, or refuse the
    integer."""
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        a, b = node.this, node.expression
        left, right = compile_node(a), compile_node(b)
        if op is operator.sub and _is_date(a) and _is_date(b):
            return _days_between(_combined(op, left, right))
        if _is_date(a) and _is_integer(b):
            right = _as_days(right)
        elif op is operator.add and _is_integer(a) and _is_date(b):
            left = _as_days(left)
        return _combined(op, left, right)

    return translate


def _days_between(difference: Fn) -> Fn:
    def run(part: pd.DataFrame) -> Any:
        delta = difference(part)
        if delta is None:
            return None
        return delta.dt.days if is_column(delta) else delta.days

    return run


def _as_days(count: Fn) -> Fn:
    """An integer operand as that many days: a Timedelta, or a timedelta64 column (NULL
    stays NULL on both libraries)."""
    def run(part: pd.DataFrame) -> Any:
        days = count(part)
        if _is_null(days) is True:
            return None
        if is_column(days):
            return (days * 86400).astype("timedelta64[s]")
        return pd.Timedelta(days=int(days))

    return run


def _is_date(node: exp.Expr) -> bool:
    """Whether the optimiser typed ``node`` DATE (from the tables' schemas); parentheses, which
    it leaves untyped, are looked through."""
    node = node.unnest()
    return node.type is not None and node.type.this == exp.DataType.Type.DATE


def _is_integer(node: exp.Expr) -> bool:
    node = node.unnest()
    return node.type is not None and node.type.this in exp.DataType.INTEGER_TYPES


def _comparison(op: Callable[[Any, Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        left, right = compile_node(node.this), compile_node(node.expression)

        def run(part: pd.DataFrame) -> Any:
            a, b = left(part), right(part)
            if _is_null(a) is True or _is_null(b) is True:
                return None
            return _nullable(op(a, b), a, b)

        return run

    return translate


def _truth(node: exp.Expr, wanted: bool, compile_node: Compile) -> Fn:
    """Where ``node`` is ``wanted`` (TRUE or FALSE; never where it is NULL), as a plain
    boolean column or a bool.

    SQL's NULL needs three values only at the leaves: ``a AND b`` is TRUE where both are
    TRUE and FALSE where either is FALSE, ``a OR b`` the other way round, ``NOT a`` is TRUE
    where ``a`` is FALSE, and a comparison is TRUE or FALSE only where neither operand is
    NULL. So the connectives combine plain booleans, which numpy does in microseconds, where
    Kleene's AND and OR over nullable columns (:func:`frames.kleene_and`) take a millisecond
    each: TPC-H q19's OR of three ANDs of eight terms spent 0.6 s of its 1.1 s there.
    """
    if isinstance(node, exp.Paren):
        return _truth(node.this, wanted, compile_node)
    if isinstance(node, exp.Not):
        return _truth(node.this, not wanted, compile_node)
    if isinstance(node, exp.Between):
        return _truth(_as_and(node), wanted, compile_node)
    if isinstance(node, (exp.And, exp.Or)):
        left = _truth(node.this, wanted, compile_node)
        right = _truth(node.expression, wanted, compile_node)
        if isinstance(node, exp.And) == wanted:  # TRUE AND TRUE; FALSE OR FALSE
            return lambda part: left(part) & right(part)
        return lambda part: left(part) | right(part)
    compare = COMPARISONS.get(type(node))
    if compare is not None:
        a_fn, b_fn = compile_node(node.this), compile_node(node.expression)

        def compared(part: pd.DataFrame) -> Any:
            a, b = a_fn(part), b_fn(part)
            if _is_null(a) is True or _is_null(b) is True:
                return False
            holds = compare(a, b)
            if not is_column(holds):
                return bool(holds) == wanted
            holds = frames.definite(holds)
            holds = holds if wanted else ~holds
            for operand in (a, b):  # a NaN (NULL) compares unequal to everything
                if is_column(operand) and frames.may_be_null(operand):
                    holds = holds & operand.notna()
            return holds

        return compared
    inner = compile_node(node)

    def leaf(part: pd.DataFrame) -> Any:
        value = inner(part)
        if not is_column(value):
            return value is not None and value is not pd.NA and bool(value) == wanted
        if not frames.may_be_null(value) and value.dtype == bool:
            return value if wanted else ~value
        value = value.astype(frames.LOGICAL)
        return frames.definite(value if wanted else ~value)

    return leaf


def _logical(op: Callable[[Any, Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        left, right = compile_node(node.this), compile_node(node.expression)
        return lambda part: op(frames.logical(left(part), part),
                               frames.logical(right(part), part))

    return translate


def _not(node: exp.Not, compile_node: Compile) -> Fn:
    return _negated(compile_node(node.this))


def _negated(inner: Fn) -> Fn:
    def run(part: pd.DataFrame) -> Any:
        value = inner(part)
        return ~value.astype(frames.LOGICAL) if is_column(value) else (
            None if value is None else not value
        )

    return run


def _literal(node: exp.Literal, _compile: Compile) -> Fn:
    if node.is_string:
        value: Any = node.this
    elif node.is_int:
        value = int(node.this)
    else:
        value = float(node.this)
    return lambda _part: value


def _constant(value: Any) -> Callable[[exp.Expr, Compile], Fn]:
    return lambda _node, _compile: (lambda _part: value)


def _boolean_literal(node: exp.Boolean, _compile: Compile) -> Fn:
    value = bool(node.this)
    return lambda _part: value


def _inner(node: exp.Expr, compile_node: Compile) -> Fn:
    return compile_node(node.this)


def _neg(node: exp.Neg, compile_node: Compile) -> Fn:
    inner = compile_node(node.this)
    return lambda part: None if _is_null(v := inner(part)) is True else -frames.widened(v)


def _is(node: exp.Is, compile_node: Compile) -> Fn:
    if not isinstance(node.expression, exp.Null):
        raise unsupported(node, "IS other than IS [NOT] NULL")
    inner = compile_node(node.this)
    return lambda part: _is_null(inner(part))


def _in(node: exp.In, compile_node: Compile) -> Fn:
    if node.args.get("query") is not None or node.args.get("unnest") is not None:
        raise unsupported(node, "IN subquery here")
    if any(e.find(exp.Column) for e in node.expressions):
        return compile_node(exp.or_(*(exp.EQ(this=node.this, expression=e)
                                      for e in node.expressions)))
    inner = compile_node(node.this)
    values = [compile_node(e)(None) for e in node.expressions]
    has_null = any(v is None for v in values)
    values = [v for v in values if v is not None]

    def run(part: pd.DataFrame) -> Any:
        column = as_column(inner(part), part)
        result = _nullable(column.isin(values), column)
        return result.mask(~result.fillna(True)) if has_null else result

    return run


def _between(node: exp.Between, compile_node: Compile) -> Fn:
    return compile_node(_as_and(node))


def _as_and(node: exp.Between) -> exp.And:
    """``x BETWEEN low AND high`` as ``x >= low AND x <= high``."""
    low = exp.GTE(this=node.this, expression=node.args["low"])
    high = exp.LTE(this=node.this, expression=node.args["high"])
    return exp.And(this=low, expression=high)


def _like(case_insensitive: bool) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        if not (isinstance(node.expression, exp.Literal) and node.expression.is_string):
            raise unsupported(node, "LIKE with a pattern other than a string literal")
        if node.args.get("escape") is not None:
            raise unsupported(node, "LIKE ... ESCAPE")
        body = frames.like_regex(node.expression.this)
        inner = _string_operand(node, compile_node)

        def run(part: pd.DataFrame) -> Any:
            column = inner(part)
            return _nullable(frames.matches_whole(column, body, case_insensitive), column)

        return run

    return translate


def _case(node: exp.Case, compile_node: Compile) -> Fn:
    if node.this is not None:  # CASE x WHEN v: the same as CASE WHEN x = v
        branches = [(exp.EQ(this=node.this, expression=b.this), b.args["true"])
                    for b in node.args["ifs"]]
    else:
        branches = [(b.this, b.args["true"]) for b in node.args["ifs"]]
    compiled = [(_truth(c, True, compile_node), compile_node(v)) for c, v in branches]
    default = node.args.get("default")
    otherwise = compile_node(default) if default is not None else (lambda _part: None)

    def run(part: pd.DataFrame) -> pd.Series:
        result = otherwise(part)
        for condition, value in reversed(compiled):
            mask = as_column(condition(part), part)
            result = _choose(mask, value(part), result, part)
        return as_column(result, part)

    return run


def _choose(mask: Any, then: Any, otherwise: Any, part: Any) -> Any:
    """``then`` where ``mask``, else ``otherwise``; a NULL branch (None) takes the other
    branch's dtype: cuDF's ``where`` refuses to mix a float NULL column with strings,
    booleans or dates."""
    if then is None and otherwise is None:
        return None
    if then is None:
        return as_column(otherwise, part).mask(mask)
    then = as_column(then, part)
    return then.where(mask) if otherwise is None else then.where(mask, otherwise)


def _if(node: exp.If, compile_node: Compile) -> Fn:
    case = exp.Case(ifs=[exp.If(this=node.this, true=node.args["true"])],
                    default=node.args.get("false"))
    return _case(case, compile_node)


def _coalesce(node: exp.Coalesce, compile_node: Compile) -> Fn:
    parts = [compile_node(node.this), *(compile_node(e) for e in node.expressions)]

    def run(part: pd.DataFrame) -> Any:
        result = parts[0](part)
        for following in parts[1:]:
            if not is_column(result):
                result = following(part) if _is_null(result) is True else result
            elif (value := following(part)) is not None:
                # where, not fillna: cuDF's fillna refuses a fill of another dtype (floats
                # into an integer column with nulls); where takes the common dtype.
                result = result.where(result.notna(), as_column(value, part))
        return result

    return run


def _extreme(later_wins: Callable[[Any, Any], Any], of_literals: Callable[[list[Any]], Any]
             ) -> Callable[[exp.Expr, Compile], Fn]:
    """``GREATEST`` and ``LEAST``: the operands' greatest (least), their NULLs skipped; NULL
    only where all are, as DuckDB and PostgreSQL. ``of_literals`` picks among literals."""
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        parts = [compile_node(node.this), *(compile_node(e) for e in node.expressions)]

        def run(part: pd.DataFrame) -> Any:
            values = [value for fn in parts if _is_null(value := fn(part)) is not True]
            if not values:
                return None
            if not any(is_column(value) for value in values):
                return of_literals(values)
            result = as_column(values[0], part)
            for value in values[1:]:
                value = as_column(value, part)
                wins = later_wins(frames.calendar(value, result), frames.calendar(result, value))
                taken = (wins.fillna(False).astype(bool) | result.isna()) & value.notna()
                result = result.where(~taken, value)
            return result

        return run

    return translate


def _regex(node: exp.Expr) -> str:
    """A regex function's pattern: a string literal RE2 compiles (DuckDB's syntax; pyarrow
    checks it with RE2 here, while planning)."""
    pattern = node.expression
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise unsupported(node, f"{node.sql_name()} with a pattern other than a string literal")
    try:
        pc.match_substring_regex(pa.array([""]), pattern=pattern.this)
    except pa.ArrowInvalid as error:
        line, col = position(pattern)
        raise SqlError(f"invalid regular expression {pattern.this!r}: {error}", "regex", line,
                       col) from None
    return pattern.this


def _regex_options(node: exp.Expr, argument: str, allowed: str) -> str:
    """A regex function's options (a string literal of DuckDB's letters in ``allowed``)."""
    options = node.args.get(argument)
    if options is None:
        return ""
    if not (isinstance(options, exp.Literal) and options.is_string
            and set(options.this) <= set(allowed)):
        raise unsupported(node, f"{node.sql_name()} with options other than {allowed!r}")
    return options.this


def _regex_match(node: exp.Expr, compile_node: Compile) -> Fn:
    """``REGEXP_MATCHES(s, p[, 'i'])`` and ``s ~ p``: whether ``p`` matches somewhere in
    ``s``; ``REGEXP_FULL_MATCH``: all of it."""
    pattern = _regex(node)
    insensitive = "i" in _regex_options(node, "flag", "ci")
    whole = isinstance(node, exp.RegexpFullMatch) or bool(node.args.get("full_match"))
    inner = _string_operand(node, compile_node)

    def run(part: pd.DataFrame) -> Any:
        column = inner(part)
        return _nullable(frames.regex_search(column, pattern, insensitive, whole), column)

    return run


def _regex_replace(node: exp.RegexpReplace, compile_node: Compile) -> Fn:
    """``REGEXP_REPLACE(s, p, r[, 'g'])``: the first match (every one with 'g') replaced by
    ``r``, in which ``\\1`` is a group's text."""
    pattern = _regex(node)
    every = "g" in _regex_options(node, "modifiers", "cg")  # libcudf's replace has no 'i'
    replacement = node.args.get("replacement")
    if not (isinstance(replacement, exp.Literal) and replacement.is_string) or any(
            node.args.get(a) is not None for a in ("position", "occurrence")):
        raise unsupported(node, "REGEXP_REPLACE other than of a pattern and a literal string")
    text = replacement.this
    if "\\" in frames.BACKREFERENCE.sub("", text):
        raise unsupported(node, "REGEXP_REPLACE with a backslash other than a group's (\\1)")
    if frames.BACKREFERENCE.search(text) and not every:
        raise unsupported(node, "REGEXP_REPLACE of the first match with a group's text: "
                                "libcudf's replaces every match, so add the option 'g'")
    inner = _string_operand(node, compile_node)
    return lambda part: frames.regex_replace(inner(part), pattern, text, every)


def _regex_extract(node: exp.RegexpExtract, compile_node: Compile) -> Fn:
    """``REGEXP_EXTRACT(s, p[, group])``: the text of the group (0, the whole match) of the
    first match; '' where none matches."""
    pattern = _regex(node)
    group = node.args.get("group") or exp.Literal.number(0)
    if not group.is_int or any(node.args.get(a) is not None
                               for a in ("position", "occurrence", "parameters")):
        raise unsupported(node, "REGEXP_EXTRACT other than of one group's number")
    number = group.to_py()
    try:
        groups = re.compile(pattern).groups
    except re.error:  # RE2's syntax beyond Python's: the groups are counted when it runs
        groups = number
    if not 0 <= number <= min(groups, 9):
        raise unsupported(node, f"REGEXP_EXTRACT of group {number}: the pattern has {groups}"
                                f"{' (at most group 9)' if number > 9 else ''}")
    inner = _string_operand(node, compile_node)
    return lambda part: frames.regex_extract(inner(part), pattern, number)


def _replace(node: exp.Replace, compile_node: Compile) -> Fn:
    """``REPLACE(s, 'from', 'to')``: each ``from`` in ``s`` replaced, literally."""
    found, replacement = node.expression, node.args.get("replacement")
    if not all(isinstance(e, exp.Literal) and e.is_string for e in (found, replacement)):
        raise unsupported(node, "REPLACE of anything but literal strings")
    inner = compile_node(node.this)

    def run(part: pd.DataFrame) -> Any:
        value = inner(part)
        if _is_null(value) is True or not found.this:  # '' is found nowhere (DuckDB's)
            return value
        return as_column(value, part).str.replace(found.this, replacement.this, regex=False)

    return run


def _in_doubles(ufunc: Callable[..., Any]) -> Callable[..., Any]:
    """``ufunc`` of its operands as doubles, as DuckDB's math functions compute: IEEE
    results, so ``SQRT(-1)`` and ``LN(-1)`` are NaN (which the engine reads as NULL) and
    ``LN(0)`` is ``-inf``. Both libraries' Series take numpy's ufuncs."""
    def run(*values: Any) -> Any:
        with np.errstate(all="ignore"):  # numpy warns of each NaN and infinity it makes
            return ufunc(*map(frames.as_double, values))

    return run


def _logarithm(node: exp.Log, compile_node: Compile) -> Fn:
    """``LOG(x)`` (base 10, as DuckDB's), ``LOG(b, x)``, and LOG2/LOG10, which sqlglot reads
    as ``LOG(2, x)`` and ``LOG(10, x)``: bases 2 and 10 by their own ufunc, exact at
    powers of the base."""
    if node.expression is None:
        return _of_column(compile_node(node.this), _in_doubles(np.log10))
    base = node.this.to_py() if node.this.is_number else None
    if base in (2, 10):
        return _of_column(compile_node(node.expression),
                          _in_doubles(np.log2 if base == 2 else np.log10))
    return _combined(_in_doubles(lambda b, x: np.log(x) / np.log(b)),
                     compile_node(node.this), compile_node(node.expression))


CAST_TYPES: dict[exp.DataType.Type, str] = {
    **dict.fromkeys(
        (exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
         exp.DataType.Type.BIGINT), "integer"),
    **dict.fromkeys(
        (exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.DECIMAL),
        "float64"),
    **dict.fromkeys(
        (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR), "string"),
    exp.DataType.Type.DATE: "date",
    **dict.fromkeys((exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME,
                     exp.DataType.Type.TIMESTAMPNTZ), "timestamp"),
    exp.DataType.Type.BOOLEAN: "boolean",
}


def _cast(node: exp.Cast, compile_node: Compile) -> Fn:
    target = CAST_TYPES.get(node.to.this)
    if target is None:
        raise unsupported(node, f"CAST to {node.to.sql()}")
    inner = _date_operand(node, node.this, compile_node) if target in ("date", "timestamp") \
        else compile_node(node.this)
    strict = not isinstance(node, exp.TryCast)
    digits = decimal_digits(node.to)
    decimal, places = _is_decimal(node.this), text_places(node.this)
    # DuckDB casts a DOUBLE to DECIMAL by rounding the scaled double; a DECIMAL or a string
    # exactly, as written
    rule = "written" if decimal or node.this.is_type(*exp.DataType.TEXT_TYPES) else "scaled"

    def cast(value: Any) -> Any:
        value = cast_value(value, target, strict, decimal, places)
        if digits is None or _is_null(value) is True:
            return value
        return _to_decimal(value, *digits, strict, rule)

    if isinstance(node.this, (exp.Literal, exp.Null)):
        # A literal is cast once, here, not in every task: a string's parse costs
        # milliseconds. (rewrite.coerced refused the strings that are no number or date.)
        try:
            value = cast(inner(None))
        except (ValueError, TypeError) as error:
            line, col = position(node)
            raise SqlError(f"cannot cast {node.this.sql()} to {target}: {error}", "cast",
                           line, col) from None
        return lambda _part: value
    return lambda part: cast(inner(part))


def _is_decimal(node: exp.Expr) -> bool:
    """Whether DuckDB holds ``node`` as a DECIMAL (:func:`decimal_scale`), which it rounds a
    half away from zero (a DOUBLE to even)."""
    return decimal_scale(node) is not None


def text_places(node: exp.Expr) -> int | None:
    """The digits after the point with which DuckDB writes ``node`` as text: none for an
    integer, a DECIMAL's scale (``205654.30``), None for a DOUBLE (its shortest repr)."""
    scale = decimal_scale(node)
    return 0 if scale is None and _is_integer(node) else scale


def decimal_scale(node: exp.Expr) -> int | None:
    """The scale of ``node`` where DuckDB holds it as a DECIMAL (held here as a double),
    by DuckDB's rules: a literal's as written (``2.50``: 2), the larger of a sum's or
    difference's, a product's added up (an integer's 0), an aggregate's or a branch's as
    their operands', ``ROUND(x, n)``'s at most ``n``; None for a DOUBLE (a quotient, or
    anything with a DOUBLE in it), an integer or text. Where sqlglot typed a column or
    function DECIMAL(p, s), ``s``."""
    node = node.unnest()
    if isinstance(node, exp.Literal):
        decimal = node.is_number and not node.is_int and "e" not in node.this.lower()
        return len(node.this.partition(".")[2]) if decimal else None
    if isinstance(node, _DECIMAL_OPERATORS):
        operands = [node.this, node.expression]
    elif isinstance(node, (exp.Case, exp.If, exp.Coalesce, exp.Greatest, exp.Least)):
        operands = [o for o in _branches(node) if o is not None and not isinstance(o, exp.Null)]
    elif isinstance(node, _SCALE_KEEPING):
        operands = [node.this]
    elif isinstance(node, (exp.Floor, exp.Ceil)) or (
            isinstance(node, exp.Round) and node.args.get("decimals") is None):
        return 0 if decimal_scale(node.this) is not None else None
    elif isinstance(node, exp.Round):
        scale, places = decimal_scale(node.this), _integer_constant(node.args["decimals"])
        if scale is None or places is None:
            return None
        return min(scale, max(places, 0))
    elif isinstance(node, exp.Cast):
        digits = decimal_digits(node.to)
        return digits[1] if digits else None
    else:
        digits = decimal_digits(node.type) if node.type is not None and node.type.expressions \
            else None
        return digits[1] if digits else None
    scales = [decimal_scale(o) for o in operands]
    if all(s is None for s in scales) or any(
            s is None and not _is_integer(o) for s, o in zip(scales, operands, strict=True)):
        return None
    known = [s or 0 for s in scales]
    return sum(known) if isinstance(node, exp.Mul) else max(known)


def _exact_decimal(node: exp.Expr, compiled: Fn) -> Fn:
    """``compiled`` arithmetic ``node`` put on its DECIMAL scale (:func:`frames.on_scale`)
    where its value leaves DECIMAL arithmetic: compared, cast, output, aggregated or mixed
    with a DOUBLE. Inside DECIMAL arithmetic the error left is far below a unit of the last
    place, so only the outermost operation rounds."""
    scale = decimal_scale(node)
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    if scale is None or (isinstance(parent, _DECIMAL_ARITHMETIC)
                         and decimal_scale(parent) is not None):
        return compiled
    return lambda part: frames.on_scale(compiled(part), scale)


def _branches(node: exp.Case | exp.If | exp.Coalesce | exp.Greatest | exp.Least
              ) -> list[exp.Expr | None]:
    """The values that a CASE, IF, COALESCE, GREATEST or LEAST may give."""
    if isinstance(node, exp.Case):
        return [node.args.get("default"), *(i.args.get("true") for i in node.args["ifs"])]
    if isinstance(node, exp.If):
        return [node.args.get("true"), node.args.get("false")]
    return [node.this, *node.expressions]


# Operators whose DECIMAL result has the larger of the operands' scales (a product's, their
# sum); those that keep their one operand's
_DECIMAL_OPERATORS = (exp.Add, exp.Sub, exp.Mul, exp.Mod)
_DECIMAL_ARITHMETIC = (*_DECIMAL_OPERATORS, exp.Neg)
_SCALE_KEEPING = (exp.Neg, exp.Abs, exp.Sum, exp.Min, exp.Max, exp.AnyValue, exp.Window,
                  exp.First, exp.Last, exp.FirstValue, exp.LastValue, exp.Lag, exp.Lead)


def decimal_digits(to: exp.DataType) -> tuple[int, int] | None:
    """A DECIMAL's precision and scale (DuckDB's DECIMAL is DECIMAL(18, 3)); None for other
    types."""
    if to.this != exp.DataType.Type.DECIMAL:
        return None
    params = [int(p.this.to_py()) for p in to.expressions]
    if not params:
        return 18, 3
    return params[0], params[1] if len(params) > 1 else 0


def _to_decimal(value: Any, precision: int, scale: int, strict: bool, rule: Rounding) -> Any:
    """``value`` (doubles) as a DECIMAL(precision, scale) holds it, as DuckDB casts: rounded
    to ``scale`` places by ``rule`` (see :func:`_to_places`); one of more than ``precision -
    scale`` whole digits fails (``strict``) or is NULL."""
    rounded = _to_places(value, scale, rule)
    too_big = np.abs(rounded) >= 10.0 ** (precision - scale)
    if not is_column(rounded):
        if too_big and strict:
            raise ConversionError(f"could not cast {value} to DECIMAL({precision},{scale})")
        return None if too_big else rounded
    if strict and bool(too_big.any()):
        raise ConversionError(f"could not cast {value[too_big].iloc[0]} to "
                              f"DECIMAL({precision},{scale}) (TRY_CAST gives NULL instead)")
    return rounded.where(~too_big)


# The types a string is parsed into by CAST (an error where it is none) and TRY_CAST (NULL)
PARSED = ("integer", "float64", "date", "boolean")
# The strings DuckDB reads as TRUE and as FALSE, in any case (spaces around them are not)
TRUE_TEXTS, FALSE_TEXTS = ["true", "t", "1", "yes", "y"], ["false", "f", "0", "no", "n"]


def cast_value(value: Any, target: str, strict: bool = True, decimal: bool = False,
               places: int | None = None) -> Any:
    """``value`` (a column or a literal) cast to ``target`` (a :data:`CAST_TYPES` value), as
    DuckDB casts; a string that is no number or date fails (``strict``) or is NULL. To an
    integer, a ``decimal`` value's half rounds away from zero, a double's to even; to text,
    with the ``places`` of its SQL type (see :func:`text_places`)."""
    if _is_null(value) is True:
        return None
    if isinstance(value, str) and target in PARSED:  # a literal, as a column of one
        cast = cast_value(pd.Series([value], dtype=STRING_DTYPE), target, strict).iloc[0]
        return None if pd.isna(cast) else cast
    if is_column(value) and target in PARSED and pd.api.types.is_string_dtype(value.dtype):
        value = _parsed(value, target, strict)
    if not is_column(value):
        if target in ("date", "timestamp"):
            stamp = pd.Timestamp(value)
            return stamp.normalize() if target == "date" else stamp
        if target == "integer" and isinstance(value, float):
            return int(_half_away(value) if decimal else round(value))
        if target == "string":  # as a column's value is written
            return frames.as_text(pd.Series([value]), places).iloc[0]
        return {"integer": int, "float64": float, "boolean": bool}[target](value)
    if target in ("date", "timestamp"):
        stamps = frames.to_datetime(value).astype(DATE_DTYPE)
        return stamps.dt.floor("D") if target == "date" else stamps
    if target == "integer":
        # SQL rounds to the nearest integer; a column with NULLs stays float (NaN).
        rounded = value if value.dtype.kind != "f" else (
            _half_away(value) if decimal else value.round())
        return rounded if rounded.isna().any() else rounded.astype("int64")
    if target == "string":
        return frames.as_text(value, places)
    return value.astype(target)


def _parsed(strings: Any, target: str, strict: bool) -> Any:
    """``strings`` as numbers, dates or booleans, as DuckDB casts them: spaces around a
    number are trimmed, and it rounds to an integer a half away from zero (a double's cast
    rounds to even); a string that is none fails a CAST, naming it, and is NULL to a
    TRY_CAST."""
    if target == "date":
        parsed = frames.parse_dates(strings)
    elif target == "boolean":
        lowered = strings.str.lower()
        truth = lowered.isin(TRUE_TEXTS)
        parsed = truth.astype(frames.LOGICAL).where(truth | lowered.isin(FALSE_TEXTS))
    else:
        parsed = frames.to_numeric(strings.str.strip())
    failed = strings.notna() & parsed.isna()
    if strict and bool(failed.any()):
        raise ConversionError(f"could not convert the string {strings[failed].iloc[0]!r} "
                              f"to {target.upper()} (TRY_CAST gives NULL instead)")
    return _half_away(parsed) if target == "integer" else parsed


def _interval(node: exp.Interval, _compile: Compile) -> Fn:
    unit = (node.unit.name if node.unit is not None else "day").lower().rstrip("s")
    try:
        amount = int(node.this.name)
    except (AttributeError, ValueError):
        raise unsupported(node, "INTERVAL with a non-integer amount") from None
    if unit in ("year", "month"):
        offset: Any = pd.DateOffset(**{f"{unit}s": amount})
    elif unit in ("week", "day", "hour", "minute", "second"):
        offset = pd.Timedelta(**{f"{unit}s": amount})
    else:
        raise unsupported(node, f"INTERVAL unit {unit}")
    return lambda _part: offset


def _date_add(sign: int) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        unit = node.args.get("unit")
        interval = exp.Interval(this=node.expression, unit=unit or exp.var("day"))
        date, delta = compile_node(node.this), _interval(interval, compile_node)(None)

        def run(part: pd.DataFrame) -> Any:
            value = date(part)
            offset = frames.calendar(delta, value)
            return value + offset if sign > 0 else value - offset

        return run

    return translate


EXTRACT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "year": lambda d: d.year,
    "quarter": lambda d: d.quarter,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "dayofyear": lambda d: d.dayofyear,
    "doy": lambda d: d.dayofyear,
    # SQL counts Sunday as 0, pandas Monday
    "dow": lambda d: (d.dayofweek + 1) % 7,
    "dayofweek": lambda d: (d.dayofweek + 1) % 7,
    "isodow": lambda d: d.dayofweek + 1,  # Monday 1 to Sunday 7
    # ISO 8601's week and its year (a Series' isocalendar() is a frame, a date's a tuple:
    # both name them)
    "week": lambda d: d.isocalendar().week,
    "isoyear": lambda d: d.isocalendar().year,
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}


def _extract(node: exp.Extract, compile_node: Compile) -> Fn:
    field = node.this.name.lower()
    get = EXTRACT_FIELDS.get(field)
    if get is None:
        raise unsupported(node, f"EXTRACT({field.upper()})")
    inner = _date_operand(node, node.expression, compile_node)

    def run(part: pd.DataFrame) -> Any:
        value = inner(part)
        if is_column(value):
            return get(value.dt).astype("float64" if value.isna().any() else "int64")
        return None if _is_null(value) is True else get(value)

    return run


# DATE_TRUNC's units: to the first day of a calendar unit (frames.first_day), or to a fixed
# length of time that both libraries floor to (dt.floor).
FIRST_DAY_UNITS = ("year", "quarter", "month", "week")
FLOOR_UNITS = {"day": "D", "hour": "h", "minute": "min", "second": "s"}


def _date_operand(node: exp.Expr, operand: exp.Expr, compile_node: Compile) -> Fn:
    """``operand``, the date that ``node`` (a date function, or a CAST to a date) takes. One
    the optimiser typed a number or a boolean is refused, as DuckDB refuses it: the engine
    would read the numbers as nanoseconds since 1970 (YEAR(division_code) gave 1970)."""
    _refuse_typed(node, operand, NOT_DATES, "no number or boolean is a date")
    return compile_node(operand)


def _refuse_typed(node: exp.Expr, operand: exp.Expr, refused: set[Any], why: str) -> None:
    """Refuse ``node`` when the optimiser typed its ``operand`` one of ``refused``, naming
    the function, the type and ``why``."""
    kind = operand.unnest().type
    if kind is not None and kind.this in refused:
        name = node.sql_name() if isinstance(node, exp.Func) else node.key.upper()
        raise unsupported(node, f"{name} of a {kind.sql(dialect='duckdb')} value: {why}")


def _on_dates(fn: Callable[[Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    """A function of one date operand (see :func:`_date_operand`): ``fn`` of its column."""
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        return _of_column(_date_operand(node, node.this, compile_node), fn)

    return translate


def _date_trunc(node: exp.Expr, compile_node: Compile) -> Fn:
    unit = node.args.get("unit")
    unit = unit.name.lower() if unit is not None else ""
    if unit not in FIRST_DAY_UNITS and unit not in FLOOR_UNITS:
        raise unsupported(node, f"DATE_TRUNC to {unit or 'an unnamed unit'}")
    inner = _date_operand(node, node.this, compile_node)

    def truncated(dates: Any) -> Any:
        dates = frames.to_datetime(dates)
        if unit in FIRST_DAY_UNITS:
            return frames.first_day(dates, unit)
        return dates.dt.floor(FLOOR_UNITS[unit])

    return _of_column(inner, truncated)


def _rounded(direction: Callable[[Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    """``FLOOR(x)``, ``CEIL(x)`` and ``TRUNC(x)``: numpy's ufunc, which cuDF Series take too;
    integers are whole already."""
    def whole(value: Any) -> Any:
        return value if value.dtype.kind in "iu" else direction(value)

    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        if node.args.get("decimals") is not None or node.args.get("to") is not None:
            raise unsupported(node, f"{node.sql_name()} with a second argument")
        return _of_column(compile_node(node.this), whole)

    return translate


def _string_method(name: str) -> Callable[[exp.Expr, Compile], Fn]:
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        inner = _string_operand(node, compile_node)
        return lambda part: getattr(inner(part).str, name)()

    return translate


TRIM_SIDES = {"LEADING": "lstrip", "TRAILING": "rstrip", "BOTH": "strip", "": "strip"}
# What TRIM removes by default, as DuckDB: Unicode's space separators (Zs), the ideographic
# space of Chinese text and the no-break space among them; not tabs or line breaks.
SPACES = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
    "\u202f\u205f\u3000"


def _trim(node: exp.Trim, compile_node: Compile) -> Fn:
    """TRIM, LTRIM and RTRIM: :data:`SPACES`, or the characters of a literal string, from
    both ends, the start or the end."""
    characters = node.args.get("expression")
    if characters is not None and not (isinstance(characters, exp.Literal)
                                       and characters.is_string):
        raise unsupported(node, "TRIM of characters other than a literal string")
    side = TRIM_SIDES[(node.args.get("position") or "").upper()]
    strip = SPACES if characters is None else characters.this
    inner = _string_operand(node, compile_node)
    return lambda part: getattr(inner(part).str, side)(strip)


def _substring(node: exp.Substring, compile_node: Compile) -> Fn:
    """``SUBSTRING(s, start[, length])`` of integer constants, as DuckDB's: a start before 1
    counts into the length (``SUBSTRING('abc', 0, 2)`` is 'a'), a negative one from the end
    (``SUBSTRING(id, -4)``, the last four characters), and a negative length takes the
    characters before the start."""
    first, count = (_integer_constant(node.args.get(a)) for a in ("start", "length"))
    if first is None or (node.args.get("length") is not None and count is None):
        raise unsupported(node, "SUBSTRING with a non-literal start or length")
    if count is not None and count < 0:  # the characters before the start
        begin, stop = (first + count, first) if first < 0 else (
            max(first - 1 + count, 0), max(first - 1, 0))
    elif first < 0:
        begin, stop = first, None if count is None or first + count >= 0 else first + count
    else:
        begin, stop = max(first - 1, 0), None if count is None else max(first - 1 + count, 0)
    inner = _string_operand(node, compile_node)
    return lambda part: inner(part).str.slice(begin, stop)


def _integer_constant(node: exp.Expr | None) -> int | None:
    """The value of an integer literal, negative ones too (sqlglot's ``is_int`` and
    ``to_py`` read ``-4``, a negation); None for anything else."""
    node = node.unnest() if node is not None else None
    return node.to_py() if node is not None and node.is_int else None


def _position(node: exp.StrPosition, compile_node: Compile) -> Fn:
    """STRPOS(s, 'x') and POSITION('x' IN s): where ``x`` first starts in ``s``, from 1; 0
    where it does not."""
    substring = node.args.get("substr")
    if not (isinstance(substring, exp.Literal) and substring.is_string) \
            or node.args.get("position") is not None or node.args.get("occurrence") is not None:
        raise unsupported(node, "STRPOS of anything but a literal string, from the start")
    inner = _string_operand(node, compile_node)
    return lambda part: inner(part).str.find(substring.this) + 1


def _pad(node: exp.Pad, compile_node: Compile) -> Fn:
    """LPAD and RPAD: filled with one character to ``width``, or cut to it (SQL keeps the
    first ``width`` characters either way)."""
    width, fill = node.expression, node.args.get("fill_pattern")
    fill_text = " " if fill is None else fill.this if isinstance(fill, exp.Literal) else None
    if not (isinstance(width, exp.Literal) and not width.is_string) or fill_text is None \
            or len(fill_text) != 1:
        name = "LPAD" if node.args.get("is_left") else "RPAD"
        raise unsupported(node, f"{name} with a width or fill other than a number and one "
                                "character")
    size, side = int(width.this), "left" if node.args.get("is_left") else "right"
    inner = _string_operand(node, compile_node)
    return lambda part: inner(part).str.pad(
        size, side=side, fillchar=fill_text).str.slice(0, size)


def _text(node: exp.Expr, compile_node: Compile) -> Fn:
    """``node`` as a column of text, as DuckDB casts it to VARCHAR (:func:`text_places`)."""
    inner, places = compile_node(node), text_places(node)
    return lambda part: frames.as_text(as_column(inner(part), part), places)


def _string_operand(node: exp.Expr, compile_node: Compile) -> Fn:
    """The text that string function ``node`` takes (its ``this``). One the optimiser typed a
    number, a date or a boolean is refused, as DuckDB refuses it, rather than read as text:
    ``LEFT(division_code, 2)`` asks for ``CAST(division_code AS VARCHAR)``."""
    _refuse_typed(node, node.this, NOT_TEXT, "CAST it to VARCHAR first, as DuckDB asks")
    return _text(node.this, compile_node)


def _concat(node: exp.Expr, compile_node: Compile) -> Fn:
    """``a || b`` (NULL where either is) and ``CONCAT(a, ...)``, which DuckDB reads with its
    NULLs as empty strings (sqlglot's ``coalesce``)."""
    parts = [_text(e, compile_node) for e in (node.expressions or [node.this, node.expression])]
    skip_nulls = bool(node.args.get("coalesce"))

    def run(part: pd.DataFrame) -> pd.Series:
        pieces = [p(part) for p in parts]
        if skip_nulls:
            pieces = [piece.fillna("") for piece in pieces]
        result = pieces[0]
        for piece in pieces[1:]:
            result = result + piece
        return result

    return run


def _concat_ws(node: exp.ConcatWs, compile_node: Compile) -> Fn:
    """``CONCAT_WS(sep, a, ...)``: the non-NULL values joined by the literal ``sep``."""
    separator, *values = node.expressions
    if not (isinstance(separator, exp.Literal) and separator.is_string):
        raise unsupported(node, "CONCAT_WS with a separator other than a literal string")
    parts = [_text(value, compile_node) for value in values]

    def run(part: pd.DataFrame) -> pd.Series:
        result = None
        for fn in parts:
            piece = fn(part)
            result = piece if result is None else result.where(piece.isna(), (
                result + separator.this + piece).where(result.notna(), piece))
        return result.fillna("")

    return run


def _affix(node: exp.Expr, compile_node: Compile) -> Fn:
    """``LEFT(s, n)`` and ``RIGHT(s, n)``: the first (last) ``n`` characters; a negative ``n``
    all but the last (first) ``-n``."""
    count = node.expression
    if not count.is_int:
        raise unsupported(node, f"{node.sql_name()} of a count other than an integer constant")
    n = count.to_py()
    # RIGHT(s, 0) is '': a slice from -0 would be all of s
    start, stop = (0, n) if isinstance(node, exp.Left) else (-n, None) if n else (0, 0)
    inner = _string_operand(node, compile_node)
    return lambda part: inner(part).str.slice(start, stop)


def _split_part(node: exp.SplitPart, compile_node: Compile) -> Fn:
    """``SPLIT_PART(s, 'delimiter', n)``: the ``n``-th piece of ``s`` (from 1; from the end
    where ``n`` is negative), '' past the last or for 0, as DuckDB's."""
    delimiter, index = node.args.get("delimiter"), _integer_constant(node.args.get("part_index"))
    if not (isinstance(delimiter, exp.Literal) and delimiter.is_string and delimiter.this
            and index is not None):
        raise unsupported(node, "SPLIT_PART other than by a literal string, of a piece "
                                "numbered by an integer constant")
    # from the end: the piece of the reversed string, by the reversed delimiter, reversed
    backwards = index < 0
    separator, piece = (delimiter.this[::-1], -index - 1) if backwards \
        else (delimiter.this, index - 1)
    inner = _string_operand(node, compile_node)

    def run(part: pd.DataFrame) -> Any:
        strings = inner(part)
        if backwards:
            strings = strings.str.slice(step=-1)
        pieces = strings.str.split(separator, expand=True, n=piece + 1)
        found = pieces[piece] if piece >= 0 and piece in pieces.columns \
            else strings.str.slice(0, 0)
        found = found.fillna("").where(strings.notna())
        return found.str.slice(step=-1) if backwards else found

    return run


# STRFTIME's directives that pandas and cuDF format alike
STRFTIME_DIRECTIVES = frozenset("YmdHMSj%")


def _strftime(node: exp.TimeToStr, compile_node: Compile) -> Fn:
    """``STRFTIME(d, 'format')`` of a literal format of :data:`STRFTIME_DIRECTIVES`."""
    form = node.args.get("format")
    directives = set(form.this[1 + i] for i, c in enumerate(form.this[:-1]) if c == "%") \
        if isinstance(form, exp.Literal) and form.is_string else None
    if directives is None or not directives <= STRFTIME_DIRECTIVES:
        raise unsupported(node, "STRFTIME with a format other than a literal of %Y %m %d %H %M "
                                "%S %j")

    def formatted(dates: Any) -> Any:
        dates = frames.to_datetime(dates)
        return dates.dt.strftime(form.this).astype(STRING_DTYPE).where(dates.notna())

    return _of_column(_date_operand(node, node.this, compile_node), formatted)


def _strptime(node: exp.StrToTime, compile_node: Compile) -> Fn:
    """``STRPTIME(s, 'format')``, a TIMESTAMP, of a literal format of %Y %m %d %H %M %S
    (a department's ``20240105`` or ``2024年1月5日``): a string that does not match it, or
    makes no date, fails the query, naming it; ``TRY_STRPTIME`` gives NULL instead."""
    form = node.args.get("format")
    read = frames.strptime_pattern(form.this) if isinstance(form, exp.Literal) \
        and form.is_string else None
    if read is None:
        raise unsupported(node, "STRPTIME with a format other than a literal of %Y %m %d %H "
                                "%M %S, each once")
    pattern, fields = read
    strict = not node.args.get("safe")
    inner = _string_operand(node, compile_node)

    def run(part: pd.DataFrame) -> Any:
        strings = inner(part)
        stamps = frames.parse_with_format(strings, pattern, fields)
        failed = strings.notna() & stamps.isna()
        if strict and bool(failed.any()):
            raise ConversionError(f"could not parse {strings[failed].iloc[0]!r} with format "
                                  f"{form.this!r} (TRY_STRPTIME gives NULL instead)")
        return stamps

    return run


def _make_date(node: exp.DateFromParts, compile_node: Compile) -> Fn:
    """``MAKE_DATE(year, month, day)``: NULL where a field is; a query fails, naming the
    fields, where they make no date (``MAKE_DATE(2023, 2, 29)``), as DuckDB's does. The
    fields are joined into ``YYYY-M-D`` and read by the calendar of :func:`frames.parse_dates`.
    """
    fields = [node.args.get(name) for name in ("year", "month", "day")]
    if any(field is None for field in fields):
        raise unsupported(node, "MAKE_DATE of other than a year, a month and a day")
    compiled = [compile_node(field) for field in fields]

    def run(part: pd.DataFrame) -> Any:
        values = [fn(part) for fn in compiled]
        if any(_is_null(value) is True for value in values):
            return None
        whole = [_half_away(frames.as_double(as_column(value, part))) for value in values]
        present = whole[0].notna() & whole[1].notna() & whole[2].notna()
        year, month, day = (number.fillna(0).astype("int64").astype(STRING_DTYPE)
                            for number in whole)
        dates = frames.parse_dates((year.str.zfill(4) + "-" + month + "-" + day).where(present))
        failed = present & dates.isna()
        if bool(failed.any()):
            first = [text[failed].iloc[0] for text in (year, month, day)]
            raise ConversionError(f"MAKE_DATE({', '.join(first)}) is no date")
        return dates

    return run


def _last_day(dates: Any) -> Any:
    """SQL's LAST_DAY: the last day of each date's month (the next month's first, less one
    day)."""
    first = frames.first_day(frames.to_datetime(dates), "month")
    return (first + frames.calendar(pd.DateOffset(months=1), first) - pd.Timedelta(days=1)
            ).astype(DATE_DTYPE)


def _current_date(_node: exp.Expr, _compile: Compile) -> Fn:
    """``CURRENT_DATE``: the day the query is planned, on this machine's clock."""
    today = pd.Timestamp.now().normalize()
    return lambda _part: today


def _round(node: exp.Round, compile_node: Compile) -> Fn:
    """``ROUND(x[, places])``, halves away from zero as DuckDB's (and C's ``round``) do, not to
    even as numpy's; negative ``places`` round to tens, hundreds... (integers too). A
    DECIMAL's written half (1760.05) rounds away, a DOUBLE's only where stored as one."""
    decimals = node.args.get("decimals")
    if decimals is not None and not decimals.is_int:
        raise unsupported(decimals, "ROUND to places that are not an integer constant")
    places = decimals.to_py() if decimals is not None else 0
    rule: Rounding = "written" if _is_decimal(node.this) else "stored"

    def rounded(value: Any) -> Any:
        if value.dtype.kind in "iu":  # in integers: a float loses an 18-digit one's digits
            step = 10 ** -places
            return value if places >= 0 else np.sign(value) * (
                (value.abs() + step // 2) // step * step)
        result = _to_places(value, places, rule)
        # DuckDB's overflow rule: a value too large to scale is left as it is
        return result.where(np.isfinite(result), value) if places >= 0 else result

    return _of_column(compile_node(node.this), rounded)


# How a value held as a double is rounded to places, a half away from zero (see _to_places)
Rounding = Literal["stored", "written", "scaled"]


def _to_places(value: Any, places: int, rule: Rounding) -> Any:
    """``value`` rounded to ``places`` decimal places (to tens, hundreds... when negative), a
    half away from zero, by ``rule``:

    - ``stored``: the DOUBLE as stored in binary (DuckDB's ROUND): 1760.05, stored as
      1760.0499..., is 1760.0 to one place, though 17600.5 is what scaling gives;
    - ``written``: a DECIMAL held as a double, as written (DuckDB's ROUND and casts of a
      DECIMAL): 4200.025 is 4200.03 to two places, though scaling gives 420002.49999999994;
    - ``scaled``: the scaled double (DuckDB's cast of a DOUBLE to DECIMAL): 1.15 is 1.2.
    """
    scale = 10.0 ** abs(places)
    scaled = value * scale if places >= 0 else value / scale
    rounded = _half_away(scaled)
    fraction = np.abs(scaled - np.trunc(scaled)) if rule != "scaled" else None
    if rule == "stored":  # scaling may have rounded onto a half from below it
        below = (fraction == 0.5) & (_scaling_error(value, scale, scaled, places >= 0)
                                     * np.sign(value) < 0)
        rounded = rounded - np.sign(value) * below
    elif rule == "written":  # a written half may be scaled a few units in the last place under
        under = (fraction < 0.5) & (0.5 - fraction <= np.abs(scaled) * 2.0**-50)
        rounded = rounded + np.sign(value) * under
    return rounded / scale if places >= 0 else rounded * scale


def _scaling_error(value: Any, scale: float, scaled: Any, multiplied: bool) -> Any:
    """The sign of what the floating-point ``scaled`` (``value * scale``, or ``value / scale``
    when not ``multiplied``) lacks of the exact result: from the product's exact error
    (Dekker's two-product, as numpy has no fused multiply-add)."""
    if multiplied:
        return _product_error(value, scale, scaled)
    product = scaled * scale  # value - product is exact: they are within a factor of 2
    return (value - product) - _product_error(scaled, scale, product)


def _product_error(a: Any, b: float, product: Any) -> Any:
    """``a * b - product`` exactly, where ``product`` is the floating-point ``a * b``."""
    a_high, a_low = _split(a)
    b_high, b_low = _split(b)
    return ((a_high * b_high - product) + a_high * b_low + a_low * b_high) + a_low * b_low


def _split(value: Any) -> tuple[Any, Any]:
    """``value`` as a sum of two doubles of 26 significant bits each (Veltkamp's split)."""
    spread = 134217729.0 * value  # 2**27 + 1
    high = spread - (spread - value)
    return high, value - high


def _half_away(value: Any) -> Any:
    """``value`` rounded to whole numbers, a half away from zero. Not ``floor(x + 0.5)``:
    0.49999999999999994 + 0.5 rounds up to 1.0 in floating point."""
    whole = np.trunc(value)
    return whole + np.sign(value) * (np.abs(value - whole) >= 0.5)


def _function(fn: Callable[[Any], Any]) -> Callable[[exp.Expr, Compile], Fn]:
    """A function of one operand: ``fn`` of its column (see :func:`_of_column`)."""
    def translate(node: exp.Expr, compile_node: Compile) -> Fn:
        return _of_column(compile_node(node.this), fn)

    return translate


def _of_column(inner: Fn, fn: Callable[[Any], Any]) -> Fn:
    """``fn`` of the column ``inner`` gives (a literal broadcast to one); NULL for NULL."""
    def run(part: pd.DataFrame) -> Any:
        value = inner(part)
        return None if _is_null(value) is True else fn(as_column(value, part))

    return run


# What the optimiser types a value that string functions refuse, as DuckDB's do
NOT_TEXT = {*exp.DataType.NUMERIC_TYPES, *exp.DataType.TEMPORAL_TYPES, exp.DataType.Type.BOOLEAN}
NOT_DATES = {*exp.DataType.NUMERIC_TYPES, exp.DataType.Type.BOOLEAN}

COMPARISONS: dict[type[exp.Expr], Callable[[Any, Any], Any]] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
}

# ONLY_VALUE(value, rows): the value of a lookup subquery for a row of its query, and how
# many rows gave it, as rewrite.scalar_joins plans it; no query may name it (rewrite.check)
ONLY_VALUE = "__only_value"


# IDENTITY(column): a GROUP BY key that a correlated subquery's join matches, grouped by the
# identity of the identifier it holds (its normalised value) where it holds one; as
# rewrite.identity_groups and the planner's aggregate read it; no query may name it
IDENTITY = "__identity"


def identity(column: exp.Expr) -> exp.Anonymous:
    """``column`` as a group key matched by the identifier rule (see :data:`IDENTITY`)."""
    return exp.Anonymous(this=IDENTITY, expressions=[column])


def only_value(value: exp.Expr, rows: exp.Expr) -> exp.Anonymous:
    """The value of a lookup subquery, ``value``, where ``rows`` rows gave it: DuckDB's
    error where they are several."""
    return exp.Anonymous(this=ONLY_VALUE, expressions=[value, rows])


def _only_value(node: exp.Anonymous, compile_node: Compile) -> Fn:
    value, rows = (compile_node(e) for e in node.expressions)

    def run(part: pd.DataFrame) -> Any:
        counts = rows(part)
        if is_column(counts) and bool((counts > 1).any()):
            raise SeveralRowsError("more than one row returned by a subquery used as an "
                                   "expression (a scalar subquery gives one row at most; "
                                   "aggregate it, or LIMIT 1)")
        return value(part)

    return run


TRANSFORMS: dict[type[exp.Expr], Callable[[Any, Compile], Fn]] = {
    exp.Literal: _literal,
    exp.Null: _constant(None),
    exp.Boolean: _boolean_literal,
    exp.Paren: _inner,
    exp.Alias: _inner,
    exp.Add: _dated(operator.add),
    exp.Sub: _dated(operator.sub),
    exp.Mul: _binary(operator.mul),
    exp.Div: _binary(frames.true_divide),
    exp.Mod: _binary(frames.remainder),
    exp.IntDiv: _integer_divide,
    exp.Neg: _neg,
    **{kind: _comparison(compare) for kind, compare in COMPARISONS.items()},
    exp.And: _logical(frames.kleene_and),
    exp.Or: _logical(frames.kleene_or),
    exp.Not: _not,
    exp.Is: _is,
    exp.In: _in,
    exp.Between: _between,
    exp.Like: _like(case_insensitive=False),
    exp.ILike: _like(case_insensitive=True),
    exp.Case: _case,
    exp.If: _if,
    exp.Coalesce: _coalesce,
    exp.Greatest: _extreme(operator.gt, max),
    exp.Least: _extreme(operator.lt, min),
    exp.Replace: _replace,
    exp.RegexpLike: _regex_match,
    exp.RegexpFullMatch: _regex_match,
    exp.RegexpReplace: _regex_replace,
    exp.RegexpExtract: _regex_extract,
    exp.Sqrt: _function(_in_doubles(np.sqrt)),
    exp.Cbrt: _function(_in_doubles(np.cbrt)),
    exp.Ln: _function(_in_doubles(np.log)),
    exp.Log: _logarithm,
    exp.Exp: _function(_in_doubles(np.exp)),
    exp.Pow: _binary(_in_doubles(np.power)),
    exp.Sign: _function(np.sign),
    exp.Pi: _constant(np.pi),
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.Interval: _interval,
    exp.DateAdd: _date_add(+1),
    exp.DateSub: _date_add(-1),
    exp.Extract: _extract,
    exp.DateTrunc: _date_trunc,
    exp.TimestampTrunc: _date_trunc,
    exp.Upper: _string_method("upper"),
    exp.Lower: _string_method("lower"),
    exp.Length: _string_method("len"),
    exp.Trim: _trim,
    exp.Substring: _substring,
    exp.StrPosition: _position,
    exp.Pad: _pad,
    exp.DPipe: _concat,
    exp.Concat: _concat,
    exp.ConcatWs: _concat_ws,
    exp.SplitPart: _split_part,
    exp.Left: _affix,
    exp.Right: _affix,
    exp.TimeToStr: _strftime,
    exp.StrToTime: _strptime,
    exp.CurrentDate: _current_date,
    exp.LastDay: _on_dates(_last_day),
    # English names, as DuckDB's (cuDF's day_name and month_name know no other locale)
    exp.Dayname: _on_dates(lambda d: frames.to_datetime(d).dt.day_name().astype(STRING_DTYPE)),
    exp.Monthname: _on_dates(
        lambda d: frames.to_datetime(d).dt.month_name().astype(STRING_DTYPE)),
    exp.DateFromParts: _make_date,
    exp.Round: _round,
    exp.Abs: _function(abs),
    exp.Floor: _rounded(np.floor),
    exp.Ceil: _rounded(np.ceil),
    exp.Trunc: _rounded(np.trunc),
}

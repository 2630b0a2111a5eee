"""The optimised query as Dask operations: one method per step kind, nothing computed.

:class:`Planner` walks sqlglot's optimised tree (leaves first, like sqlglot's executor walks
its plan): ``scan`` reads a table (columns and simple predicates pushed into the read),
``join`` merges two relations (broadcast or hash-shuffle, :func:`compute.planner.choose`),
``aggregate`` groups (grouping sets included), ``window`` computes OVER clauses, ``sort``
orders (a top-k per partition under a LIMIT) and ``set_operation`` combines queries. Column
expressions go through :mod:`compute.sql.translate`. Every unsupported construct raises
:class:`SqlError` here, before any task runs.

A relation's columns are labelled ``"alias.column"`` inside a SELECT and by their output
names between queries.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import dask.config
import dask.dataframe as dd
import pandas as pd
import pyarrow as pa
from dask.utils import M, format_bytes
from sqlglot import exp
from sqlglot.optimizer.scope import find_all_in_scope

import kernels
from compute.planner import JoinChoice, choose, split_out
from compute.sql import frames, holistic
from compute.sql.errors import ConversionError, SqlError, unsupported
from compute.sql.hashjoin import broadcast_join
from compute.sql.rewrite import NULL_AWARE
from compute.sql.source import Filter, TableSource
from compute.sql.translate import (
    IDENTITY,
    Fn,
    as_column,
    column_key,
    compile_expression,
    compile_predicate,
    constant,
    decimal_scale,
    evaluate,
    tokenized,
    true_rows,
)
from compute.tables.stats import ordinals


class Identifier(NamedTuple):
    """How columns holding an identifier element are matched: ``pack`` makes the int64 key
    (or keys: ``parts`` names their columns where there are several, a USCC's 17 characters
    fitting no one int64) that joins compare; ``normalise``, an SQL function, gives the
    normalised value, which ``pack`` reads alike (a correlated subquery's groups are of it:
    ``rewrite.identity_groups``)."""

    pack: Callable[[Any], Any]
    parts: tuple[str, ...] | None
    normalise: str


# Elements whose values are identifiers: two columns of elements matched alike (a legal
# representative's ID and a resident's) are joined on packed keys
IDENTIFIERS: dict[str, Identifier] = {
    "resident_id": Identifier(kernels.pack_resident_id, None, "normalise_resident_id"),
    "legal_rep_id": Identifier(kernels.pack_resident_id, None, "normalise_resident_id"),
    "uscc": Identifier(kernels.pack_uscc, ("high", "low"), "normalise_uscc"),
}
# Reduced in the windows of :class:`_WindowTask` too (a running quantile is not)
WINDOW_AGGREGATES = (exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max)
AGGREGATES = (*WINDOW_AGGREGATES, *holistic.FUNCTIONS)
SHIFTS = (exp.Lag, exp.Lead)
# The window functions of a value: the rows around, and the first and last of the frame
VALUE_WINDOWS = (*SHIFTS, exp.FirstValue, exp.LastValue)
WINDOW_FUNCTIONS = (exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile, exp.PercentRank,
                    exp.CumeDist, *VALUE_WINDOWS, *WINDOW_AGGREGATES)
# The most rows a moving window frame (ROWS BETWEEN n PRECEDING ...) may hold: it is reduced
# over that many shifted copies of its column
MOVING_ROWS = 1000
# The window functions that read how many rows their window partition has
SIZED = ("shift", "ntile", "percent_rank", "cume_dist")
# Not <>: Dask's Parquet filters keep the rows whose column is NULL for "!=", where SQL drops
# them.
SCAN_OPERATORS = {exp.EQ: "==", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<="}
STRATEGIES = ("auto", "broadcast", "shuffle")
EVALUATION_ERRORS = (TypeError, ValueError, KeyError, AttributeError, ArithmeticError)
ROW_ID = "_row"


@dataclass
class Relation:
    """A lazy frame, what its labels hold (data elements), an upper bound of its rows,
    estimates of its columns' distinct values (from the tables' statistics) and the
    conditions its rows are known to meet (the terms its scans applied to each row)."""

    frame: dd.DataFrame
    rows: int
    elements: dict[str, str] = field(default_factory=dict)
    distinct: dict[str, int] = field(default_factory=dict)
    applied: frozenset[exp.Expr] = frozenset()

    def labels(self) -> dict[str, str]:
        return {label: label for label in self.frame.columns}

    def renamed(self, mapping: dict[str, str]) -> Relation:
        """The relation with its columns and their facts under new labels (``mapping``
        names every column)."""
        return Relation(self.frame.rename(columns=mapping), self.rows,
                        {mapping[k]: v for k, v in self.elements.items() if k in mapping},
                        {mapping[k]: v for k, v in self.distinct.items() if k in mapping})

    def selected(self, frame: dd.DataFrame, rows: int, outputs: Sequence[exp.Expr]
                 ) -> Relation:
        """``frame``, computed from this relation's ``outputs``: the facts of the plain
        columns among them, by the outputs' names."""
        def by_output(facts: dict[str, Any]) -> dict[str, Any]:
            return {e.alias_or_name: facts[column_key(e.unalias())] for e in outputs
                    if isinstance(e.unalias(), exp.Column) and column_key(e.unalias()) in facts}

        return Relation(frame, rows, by_output(self.elements), by_output(self.distinct))


class Planner:
    """Builds the Dask graph of one optimised query; ``steps`` says what it chose."""

    def __init__(self, source: TableSource, tables: dict[str, str] | None = None) -> None:
        self.source = source
        # sqlglot folds identifiers to lower case, as DuckDB's are case-insensitive: the
        # tables' names as the query wrote them, by their folded names
        self.tables = tables or {}
        self.stored: dict[str, str] = {}  # the scanned columns' names, by their folded ones
        self.steps: list[str] = []
        self.ctes: list[dict[str, Relation]] = [{}]

    # -- queries ---------------------------------------------------------------------------

    def query(self, node: exp.Expr) -> Relation:
        """A SELECT, set operation or parenthesised query, labelled by output names."""
        if isinstance(node, exp.Subquery):
            return self.query(node.this)
        self.ctes.append(dict(self.ctes[-1]))
        try:
            for cte in (node.args.get("with_") or exp.With()).expressions:
                self.ctes[-1][cte.alias_or_name] = _renamed(self.query(cte.this), cte.args["alias"])
            if isinstance(node, exp.Select):
                return self.select(node)
            if isinstance(node, exp.SetOperation):
                return self.set_operation(node)
            raise unsupported(node)
        finally:
            self.ctes.pop()

    def select(self, node: exp.Select) -> Relation:
        """FROM, JOINs, WHERE, GROUP BY / HAVING, windows, SELECT list, DISTINCT, ORDER/LIMIT."""
        where = node.args.get("where")
        conjuncts = _conjuncts(where.this) if where else []
        from_ = node.args.get("from_")
        if from_ is None:
            # Dask's backend dispatch: a pandas or a cuDF frame, as dataframe.backend says
            relation = Relation(dd.from_dict({"_one": [1]}, npartitions=1), 1)
        else:
            relation = self.relation(from_.this, node, conjuncts)
        joins = node.args.get("joins", [])
        # items planned to size them for the join order, kept for their joins
        sized: dict[str, Relation] = {}
        if from_ is not None:
            sized[from_.this.alias_or_name] = relation
            joins = _join_order(from_.this, joins, self._sizer(node, joins, sized))
        joined = {from_.this.alias_or_name} if from_ is not None else set()
        relation, conjuncts = self._filter_early(relation, conjuncts, joined, joins)
        for i, join in enumerate(joins):
            relation = self.join(relation, join, node, sized.pop(join.this.alias_or_name, None))
            joined.add(join.this.alias_or_name)
            relation, conjuncts = self._filter_early(relation, conjuncts, joined, joins[i + 1:])
        if conjuncts:
            relation = self._unapplied(relation, conjuncts, ", ".join(sorted(joined)))
        outputs = list(node.expressions)
        order = list((node.args.get("order") or exp.Order()).expressions)
        having = node.args.get("having")
        group = node.args.get("group")
        if group is not None or any(_aggregates(e) for e in [*outputs, *order]) or having:
            relation, outputs, order, having_expr = self.aggregate(
                relation, group, outputs, order, having.this if having else None)
            if having_expr is not None:
                relation = self.filter(relation, having_expr)
        relation, outputs, order = self.window(relation, outputs, order)
        names = [e.alias_or_name.lower() for e in outputs]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates and node.parent is not None:  # a name the outer query could not tell
            raise SqlError(f"output column names repeat: {sorted(duplicates)}", "select list")
        if duplicates:
            outputs = _deduplicated(outputs)
        names = [e.alias_or_name for e in outputs]
        distinct = node.args.get("distinct") is not None
        relation, keys = self.project(relation, outputs, order, distinct)
        if distinct:  # (DISTINCT ON was spelled out as a QUALIFY)
            relation.frame = relation.frame.drop_duplicates(split_out=self._split(relation))
        return self.sort(relation, keys, node, names)

    def _filter_early(self, relation: Relation, conjuncts: list[exp.Expr], joined: set[str],
                      later: Sequence[exp.Join]) -> tuple[Relation, list[exp.Expr]]:
        """``relation`` filtered by the WHERE terms over the tables ``joined`` so far, and the
        terms left for later.

        A filter commutes with inner, cross, semi and anti joins and with LEFT joins of what
        it filters, so each term runs as soon as its tables are joined: TPC-H q09's
        ``p_name LIKE '%green%'`` keeps 5 % of the parts before lineitem meets them, not
        after five joins. A later RIGHT or FULL join would NULL-extend what the term reads:
        then it waits for the end, as do terms with a subquery.
        """
        if any(join.side in ("RIGHT", "FULL") for join in later):
            return relation, conjuncts
        now = [term for term in conjuncts if _tables(term) <= joined
               and not term.find(exp.Subquery, exp.Select, exp.Exists)]
        if not now:
            return relation, conjuncts
        return (self._unapplied(relation, now, ", ".join(sorted(joined))),
                [t for t in conjuncts if t not in now])

    def _unapplied(self, relation: Relation, terms: list[exp.Expr], where: str | None = None
                   ) -> Relation:
        """``relation`` filtered by those of ``terms`` its scans did not apply already (a
        pushed filter is applied to each row as the file is read). ``where``: the tables of
        WHERE terms, named in the plan's step."""
        terms = [term for term in terms if term not in relation.applied]
        if not terms:
            return relation
        if where is not None:
            self.steps.append(f"filter by {len(terms)} WHERE term(s) over {where}")
        return self.filter(relation, exp.and_(*terms))

    def _sizer(self, select: exp.Select, joins: Sequence[exp.Join],
               sized: dict[str, Relation]) -> Callable[[str], Relation]:
        """A join item of the leading inner joins by its alias, planned with their ON terms
        over it alone, for its size (and kept in ``sized`` for its join)."""
        run = list(itertools.takewhile(_plain_inner, joins))

        def relation(alias: str) -> Relation:
            if alias not in sized:
                join = next(j for j in run if j.this.alias_or_name == alias)
                terms = [term for j in run if (on := j.args.get("on")) is not None
                         for term in _conjuncts(on) if _tables(term) == {alias}]
                sized[alias] = self.relation(join.this, select, terms)
            return sized[alias]

        return relation

    def set_operation(self, node: exp.SetOperation) -> Relation:
        """UNION [ALL], INTERSECT and EXCEPT (distinct); columns matched by position."""
        left, right = self.query(node.this), self.query(node.expression)
        names = list(left.frame.columns)
        if len(right.frame.columns) != len(names):
            raise SqlError(
                f"{node.key.upper()}: the queries have {len(names)} and "
                f"{len(right.frame.columns)} columns", node.key.upper())
        mine = left.frame
        other = right.frame.rename(columns=dict(zip(right.frame.columns, names, strict=True)))
        casts = {n: c for n in names if (c := _common_dtype(mine.dtypes[n], other.dtypes[n]))}
        if casts:
            mine, other = mine.astype(casts), other.astype(casts)
        distinct = node.args.get("distinct", True)
        if isinstance(node, exp.Union):
            frame = dd.concat([mine, other])
            if distinct:
                frame = frame.drop_duplicates(split_out=True)
            rows = left.rows + right.rows
        elif not distinct:
            raise unsupported(node, f"{node.key.upper()} ALL")
        else:
            # NULLs are equal here (set semantics), as in pandas' merge on NaN keys.
            theirs = other.drop_duplicates(split_out=True).assign(_hit=True)
            merged = mine.drop_duplicates(split_out=True).merge(theirs, on=names, how="left")
            frame = merged.map_partitions(_matched, isinstance(node, exp.Intersect),
                                          meta=merged._meta.drop(columns="_hit"))
            rows = left.rows
        self.steps.append(f"set operation {node.key.upper()}{'' if distinct else ' ALL'}")
        relation = Relation(frame, rows)
        order = (node.args.get("order") or exp.Order()).expressions
        labels = {n: n for n in names}
        keys = [(compile_expression(o.this, labels), o) for o in order]
        relation, sort_keys = self._with_keys(relation, keys)
        return self.sort(relation, sort_keys, node, names)

    # -- sources ----------------------------------------------------------------------------

    def relation(self, node: exp.Expr, select: exp.Select, conjuncts: Sequence[exp.Expr]
                 ) -> Relation:
        """A FROM or JOIN item: a base table, a CTE or a derived table, labelled by alias."""
        if isinstance(node, exp.Subquery):
            return self._used_only(_qualified(self.query(node.this), node.args.get("alias"),
                                              node.alias_or_name), select, node.alias_or_name)
        if not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
            raise unsupported(node, f"{node.key.upper()} as a table")
        cte = self.ctes[-1].get(node.name) if not node.args.get("db") else None
        if cte is not None:
            return self._used_only(_qualified(cte, node.args.get("alias"), node.alias_or_name),
                                   select, node.alias_or_name)
        return self.scan(node, select, conjuncts)

    def _used_only(self, relation: Relation, select: exp.Select, alias: str) -> Relation:
        """A query's ``relation`` (labelled ``alias.column``) with only the columns
        ``select`` uses, as a scan reads only those: sqlglot keeps a CTE's columns that only
        its own WHERE reads (TPC-H Q13's ``o_comment``), and each join after would carry
        them."""
        keep = _used_columns(select, alias, list(relation.frame.columns), f"{alias}.")
        if len(keep) == len(relation.frame.columns):
            return relation
        dropped = [label.split(".", 1)[1] for label in relation.frame.columns
                   if label not in keep]
        self.steps.append(f"{alias}: columns {dropped} dropped, read nowhere here")
        return replace(relation, frame=relation.frame[keep],
                       elements={k: v for k, v in relation.elements.items() if k in keep},
                       distinct={k: v for k, v in relation.distinct.items() if k in keep})

    def scan(self, node: exp.Table, select: exp.Select, conjuncts: Sequence[exp.Expr]
             ) -> Relation:
        """Read the columns ``select`` uses of table ``node``, pushing simple predicates."""
        alias, table = node.alias_or_name, self.tables.get(node.name, node.name)
        schema = self.source.schema(table)
        stored = {name.lower(): name for name in schema.names}  # by the folded names
        columns = _used_columns(select, alias, list(stored))
        self.stored.update({c: stored[c] for c in columns if c not in self.stored})
        pushed = {c: f for c in conjuncts
                  if (f := _scan_filter(c, alias, schema, stored)) is not None}
        filters = list(pushed.values())
        frame = self.source.scan(table, [stored[c] for c in columns], filters or None)
        frame = frame.rename(columns={stored[c]: f"{alias}.{c}" for c in columns})
        elements = {f"{alias}.{c}": e for c in columns
                    if (e := self.source.element(table, stored[c])) is not None}
        distinct = {f"{alias}.{c}": n for c in columns
                    if (n := self.source.distinct(table, stored[c])) is not None}
        rows = _filtered_rows(self.source.rows(table), filters,
                              lambda column: self.source.distinct(table, column),
                              lambda column: self.source.value_range(table, column))
        self.steps.append(
            f"scan {table} AS {alias}: columns {columns}, filters {filters or 'none'}, "
            f"{frame.npartitions} partitions")
        return Relation(frame, rows, elements, distinct, frozenset(pushed))

    # -- joins ------------------------------------------------------------------------------

    def join(self, left: Relation, join: exp.Join, select: exp.Select,
             right: Relation | None = None) -> Relation:
        """Inner, outer, semi, anti or cross join of ``left`` with the join's item (``right``
        when already planned)."""
        if join.args.get("using"):
            raise unsupported(join, "JOIN ... USING")
        kind, side = (join.kind or "").upper(), (join.side or "").upper()
        on = join.args.get("on")
        conditions = _conjuncts(on) if on is not None else []
        # ON terms of an inner or left join filter the joined table: they may reach its scan
        if right is None:
            right = self.relation(join.this, select, conditions if side in ("", "LEFT") else [])
        how = {"LEFT": "left", "RIGHT": "right", "FULL": "outer"}.get(side, "inner")
        if kind in ("SEMI", "ANTI") and side not in ("", "LEFT"):
            raise unsupported(join, f"{side} {kind} JOIN")
        labels = (set(left.frame.columns), set(right.frame.columns))
        equi, residual, right_only, left_only = [], [], [], []
        for condition in conditions:
            sides = _sides(condition, *labels, join)
            pair = _equi_pair(condition, *labels, join) if sides == {"left", "right"} else None
            if pair is not None:
                equi.append(pair)
            elif sides == {"right"}:
                right_only.append(condition)
            elif sides == {"left"}:
                left_only.append(condition)
            else:
                residual.append(condition)
        if right_only and how in ("inner", "left"):
            right = self._unapplied(right, right_only)
        elif right_only:
            residual += right_only
        if left_only and how in ("inner", "right") and kind not in ("SEMI", "ANTI"):
            left = self._unapplied(left, left_only)
        elif left_only:
            residual += left_only
        if residual and how != "inner":
            raise unsupported(join, f"{side} JOIN with a condition other than equalities "
                                    "and conditions on the joined table alone")
        name = f"{kind or side or 'INNER'} JOIN {join.this.alias_or_name}"
        if kind in ("SEMI", "ANTI"):
            return self._semi(left, right, equi, residual, kind, join.this.alias_or_name, name)
        return self._merge(left, right, equi, residual, how, name)

    def _merge(self, left: Relation, right: Relation, equi: list[tuple[exp.Expr, exp.Expr]],
               residual: list[exp.Expr], how: str, name: str) -> Relation:
        left, right, left_keys, right_keys = self._keys(left, right, equi)
        if not equi:  # a cross join: one constant key
            left_keys, right_keys = ["_lk0"], ["_rk0"]
            left = replace(left, frame=left.frame.assign(_lk0=0))
            right = replace(right, frame=right.frame.assign(_rk0=0))
        # SQL never matches NULL keys (pandas would): they leave the sides not preserved,
        # and the rows of a FULL join's sides with NULL keys are added back unmatched.
        kept_left = left.frame if how == "left" else left.frame.dropna(subset=left_keys)
        kept_right = right.frame if how == "right" else right.frame.dropna(subset=right_keys)
        choice, small = self._choose(name, left, right, how)
        if choice.strategy == "broadcast" and not set(left.frame.columns) & set(
                right.frame.columns):
            probing, side = (kept_right, kept_left) if small == "left" else \
                (kept_left, kept_right)
            probing_keys, side_keys = (right_keys, left_keys) if small == "left" else \
                (left_keys, right_keys)
            frame = broadcast_join(probing, side, probing_keys, side_keys,
                                   "inner" if how == "inner" else "preserve",
                                   side_first=small == "left")
        else:
            frame = _shape(kept_left, choice, small == "left").merge(
                _shape(kept_right, choice, small == "right"), how=how, left_on=left_keys,
                right_on=right_keys, broadcast=choice.strategy == "broadcast",
            )
        if how == "outer":
            frame = dd.concat([frame, *(side.map_partitions(_null_keys, keys, meta=side._meta)
                                        for side, keys in ((left.frame, left_keys),
                                                           (right.frame, right_keys)))])
        frame = frame.drop(columns=[*left_keys, *right_keys])
        rows = _join_rows(left.rows, right.rows, how, bool(equi))
        if how == "inner" and equi:
            rows = min(rows, _joined_rows(left.rows, left.distinct, right.rows,
                                          right.distinct, equi))
        # A side's conditions hold after the join unless the join NULL-extends its rows.
        applied = {"inner": left.applied | right.applied, "left": left.applied,
                   "right": right.applied, "outer": frozenset()}[how]
        relation = Relation(frame, rows, {**left.elements, **right.elements},
                            {**left.distinct, **right.distinct}, applied)
        self.steps.append(f"{name} on {len(equi)} key(s): {_described(choice)}")
        return self.filter(relation, exp.and_(*residual)) if residual else relation

    def _semi(self, left: Relation, right: Relation, equi: list[tuple[exp.Expr, exp.Expr]],
              residual: list[exp.Expr], kind: str, alias: str, name: str) -> Relation:
        """Rows of ``left`` with (SEMI) or without (ANTI) a match in ``right``."""
        columns = list(left.frame.columns)
        left, right, left_keys, right_keys = self._keys(left, right, equi)
        # The matches are found by hashing the smaller side: the right's keys, or (q04's
        # few orders against all of lineitem) the left's keys, probed by the right's rows.
        choice, small = self._choose(name, left, right, "inner")
        broadcast = choice.strategy == "broadcast"
        by_left = bool(equi) and not residual and broadcast and small == "left"
        frame = left.frame
        if residual:  # match pairs first, then keep the ids of the rows with a match
            frame = frame.map_partitions(_with_row_ids, meta=_with_row_ids(frame._meta))
            kept, found = frame.dropna(subset=left_keys), right.frame.dropna(subset=right_keys)
            # the pairs are an inner join: the smaller side is hashed (q21's few late lines
            # of one nation's suppliers, not all of lineitem)
            hashed_side = f", the {small} side hashed" if broadcast else ""
            self.steps.append(f"{name}, pairs under its condition: {_described(choice)}"
                              f"{hashed_side}")
            if not broadcast:
                pairs = kept.merge(found, left_on=left_keys, right_on=right_keys)
            elif small == "left":
                pairs = broadcast_join(found, kept, right_keys, left_keys, "inner",
                                       side_first=True)
            else:
                pairs = broadcast_join(kept, found, left_keys, right_keys, "inner")
            matched = self.filter(Relation(pairs, left.rows), exp.and_(*residual)).frame
            found, keys, found_keys = matched[[ROW_ID]], [ROW_ID], [ROW_ID]
        elif by_left:
            found = broadcast_join(right.frame[right_keys], left.frame[left_keys], right_keys,
                                   left_keys, "semi").map_partitions(M.drop_duplicates)
            keys, found_keys = left_keys, right_keys
        elif equi:
            found, keys, found_keys = right.frame[right_keys], left_keys, right_keys
        else:  # [NOT] EXISTS without correlation: whether the subquery has a row
            found, keys, found_keys = None, [], []
        if found is not None and broadcast:
            frame = broadcast_join(frame, found, keys, found_keys,
                                   "semi" if kind == "SEMI" else "anti")
        elif found is not None:
            # a hashed side may repeat keys; a merged one may not (it would repeat rows)
            found = found.dropna().drop_duplicates(split_out=True)
            frame = frame.merge(found.assign(_hit=True), how="left", left_on=keys,
                                right_on=found_keys, suffixes=("", "_found"))
            frame = frame.map_partitions(_matched, kind == "SEMI", meta=frame._meta.drop(
                columns="_hit"))
        else:
            any_row = right.frame.map_partitions(len).sum() > 0
            frame = frame.map_partitions(_keep_if, any_row, kind == "SEMI", meta=frame._meta)
        if alias.startswith(NULL_AWARE):
            # NULLs as written, not the keys: an invalid identifier packs to a NULL key, and
            # matches nothing, but it is no NULL
            (value, listed), = equi
            listed_values = _mapped(right.frame, _project, {
                "_v": compile_expression(listed, right.labels())})["_v"]
            listed_rows = right.frame.map_partitions(len).sum()
            frame = frame.map_partitions(
                _not_in_nulls, listed_values.isna().any(), listed_rows > 0,
                compile_expression(value, left.labels()), meta=frame._meta)
        probed = ", the right side probing the left's keys" if by_left else ""
        self.steps.append(f"{name} on {len(equi)} key(s): {_described(choice)}{probed}")
        return replace(left, frame=frame[columns])

    def _keys(self, left: Relation, right: Relation, equi: list[tuple[exp.Expr, exp.Expr]]
              ) -> tuple[Relation, Relation, list[str], list[str]]:
        """Key columns ``_lk<i>`` / ``_rk<i>``; identifiers of one element packed to int64
        (``_lk<i>_high`` and ``_lk<i>_low`` where the kernel gives two keys).

        A plain column is copied too: joined on the column itself, TPC-H q18's lineitem (read
        once for its group-by and for its join) had its probe fused otherwise by Dask, and
        the query took a third longer.
        """
        left_fns, right_fns, left_keys, right_keys = {}, {}, [], []
        for i, (a, b) in enumerate(equi):
            left_fn = compile_expression(a, left.labels())
            right_fn = compile_expression(b, right.labels())
            suffixes = [""]
            identifier = _identifier(a, left, b, right)
            if identifier is not None:
                left_fn = _packed(left_fn, identifier.pack)
                right_fn = _packed(right_fn, identifier.pack)
                if identifier.parts:
                    suffixes = [f"_{part}" for part in identifier.parts]
            left_fns[f"_lk{i}"], right_fns[f"_rk{i}"] = left_fn, right_fn
            left_keys += [f"_lk{i}{suffix}" for suffix in suffixes]
            right_keys += [f"_rk{i}{suffix}" for suffix in suffixes]
        left, right = _assigned(left, left_fns), _assigned(right, right_fns)
        casts = {k: c for k, j in zip(left_keys, right_keys, strict=True)
                 if (c := _common_dtype(left.frame.dtypes[k], right.frame.dtypes[j]))}
        if casts:  # one key dtype on both sides (int32 and int64, int64 and Int64, ...)
            left.frame = left.frame.astype(casts)
            right.frame = right.frame.astype({j: casts[k] for k, j in zip(
                left_keys, right_keys, strict=True) if k in casts})
        return left, right, left_keys, right_keys

    def _choose(self, name: str, left: Relation, right: Relation, how: str
                ) -> tuple[JoinChoice, str]:
        """Broadcast or shuffle, from the smaller side's estimated size (or the config)."""
        candidates = {"inner": ("left", "right"), "left": ("right",), "right": ("left",),
                      "outer": ()}[how]
        sizes = {"left": _bytes(left), "right": _bytes(right)}
        small = min(candidates, key=sizes.__getitem__) if candidates else "right"
        forced = dask.config.get("govgrid.sql.join", default="auto")
        if forced not in STRATEGIES:
            raise SqlError(f"govgrid.sql.join is {forced!r}; expected one of {STRATEGIES}",
                           "govgrid.sql.join")
        choice = choose(name, sizes[small])
        if not candidates:  # a FULL join keeps both sides: nothing to broadcast
            choice = replace(choice, strategy="shuffle")
        elif forced != "auto":
            choice = replace(choice, strategy=forced)
        return choice, small

    # -- filters, aggregation, windows, projection, sort ---------------------------------

    def filter(self, relation: Relation, condition: exp.Expr) -> Relation:
        """Rows where ``condition`` is TRUE."""
        fn = compile_predicate(condition, relation.labels())
        return replace(relation, frame=_mapped(relation.frame, _filter, fn))

    def aggregate(self, relation: Relation, group: exp.Group | None, outputs: list[exp.Expr],
                  order: list[exp.Ordered], having: exp.Expr | None
                  ) -> tuple[Relation, list[exp.Expr], list[exp.Ordered], exp.Expr | None]:
        """GROUP BY (with ROLLUP, CUBE, GROUPING SETS) and the aggregates the query uses.

        Returns the aggregated relation (group keys ``_g<i>``, aggregates ``_a<j>``) and the
        SELECT list, ORDER BY and HAVING rewritten over those columns.
        """
        if group is not None and group.args.get("all"):  # GROUP BY ALL: the plain outputs
            group = exp.Group(expressions=[e.unalias() for e in outputs if not _aggregates(e)])
        keys, sets = _grouping_sets(group, outputs)
        found: dict[exp.Expr, str] = {}
        for expression in [*outputs, *order, *([having] if having is not None else [])]:
            for agg in _aggregates(expression):
                found.setdefault(agg, f"_a{len(found)}")
        labels = relation.labels()
        computed = [_group_key(k, relation) for k in keys]
        key_fns = {f"_g{i}": compile_expression(k, labels) for i, (k, _) in enumerate(computed)}
        operands: dict[exp.Expr, str] = {}  # one column per operand: SUM(x), AVG(x) share x

        def operand_label(operand: exp.Expr) -> str:
            return operands.setdefault(operand, f"_o{len(operands)}")

        specs: list[tuple[str, str | holistic.Holistic, str | None, bool]] = []
        for agg, label in found.items():
            if not isinstance(agg, AGGREGATES):
                raise unsupported(agg, f"aggregate {agg.sql_name()}")
            if isinstance(agg, holistic.FUNCTIONS):
                operand, how = holistic.spec(agg, operand_label)
                specs.append((label, how, operand_label(operand), False))
                continue
            operand = agg.this
            distinct = isinstance(operand, exp.Distinct)
            if distinct:
                if len(operand.expressions) != 1:
                    raise unsupported(agg, f"{agg.sql_name()}(DISTINCT) of several values")
                operand = operand.expressions[0]
            if isinstance(operand, exp.Star) or operand is None:
                specs.append((label, "size", None, False))
                continue
            specs.append((label, _AGG_NAMES[type(agg)], operand_label(operand), distinct))
        fns = {**key_fns, **{column: compile_expression(operand, labels)
                             for operand, column in operands.items()}}
        frame = _mapped(relation.frame, _project, fns)
        for agg in found:
            if isinstance(agg, exp.PercentileCont) and not pd.api.types.is_numeric_dtype(
                    frame._meta[operands[agg.this]].dtype):
                raise unsupported(agg, "QUANTILE_CONT (MEDIAN) of values that are not numbers")
        groups = _groups(relation, keys, sets)
        # Tree reduction into one partition when the groups (not the input) fit in one.
        split = self._split(replace(relation, rows=groups))
        groupings = _groupings([*outputs, *order, *([having] if having is not None else [])],
                               keys)
        # DuckDB sums DECIMALs exactly: a sum of doubles is put back on the scale
        scales = {label: _summed_scale(agg) for agg, label in found.items()
                  if _summed_scale(agg) is not None}
        pieces = [_aggregate_set(frame, [f"_g{i}" for i in s], list(key_fns), specs, split,
                                 scales) for s in sets]
        if groupings:  # GROUPING(k, ...) is a constant of each grouping set
            pieces = [piece.assign(**{label: _grouping_bits(positions, s)
                                      for label, positions in groupings.values()})
                      for piece, s in zip(pieces, sets, strict=True)]
        result = pieces[0] if len(pieces) == 1 else dd.concat(pieces)
        self.steps.append(
            f"aggregate {len(specs)} value(s) by {len(keys)} key(s)"
            f"{f' in {len(sets)} grouping sets' if len(sets) > 1 else ''}, "
            f"about {groups:,} group(s), split_out={split}")
        rewrite = _aggregated(keys, {**found, **{node: label
                                                 for node, (label, _) in groupings.items()}})
        aggregated = relation.selected(
            result, groups, [exp.alias_(kept, f"_g{i}") for i, (_, kept) in enumerate(computed)])
        return (aggregated, [rewrite(e) for e in outputs],
                [rewrite(o) for o in order], rewrite(having) if having is not None else None)

    def window(self, relation: Relation, outputs: list[exp.Expr], order: list[exp.Ordered]
               ) -> tuple[Relation, list[exp.Expr], list[exp.Ordered]]:
        """OVER clauses: ROW_NUMBER, RANK, DENSE_RANK, NTILE, PERCENT_RANK, CUME_DIST, LAG,
        LEAD, FIRST_VALUE, LAST_VALUE and SUM/COUNT/AVG/MIN/MAX."""
        windows: dict[exp.Window, str] = {}
        for expression in [*outputs, *order]:
            for node in expression.find_all(exp.Window):
                windows.setdefault(node, f"_w{len(windows)}")
        if not windows:
            return relation, outputs, order
        frame, labels = relation.frame, relation.labels()
        for node, label in windows.items():
            frame = self._window(frame, labels, node, label)
            labels[label] = label
        rewrite = _replacing({node: label for node, label in windows.items()})
        self.steps.append(f"window {len(windows)} function(s)")
        return (replace(relation, frame=frame), [rewrite(e) for e in outputs],
                [rewrite(o) for o in order])

    def _window(self, frame: dd.DataFrame, labels: dict[str, str], node: exp.Window,
                label: str) -> dd.DataFrame:
        function = node.this
        if not isinstance(function, WINDOW_FUNCTIONS) or isinstance(function.this, exp.Distinct):
            raise unsupported(node, f"window function {function.sql_name()}")
        spec = node.args.get("spec")
        extent = _FRAMES.get(spec.sql().upper() if spec is not None else None)
        reach = _reach(spec) if extent is None else (0, 0)
        if extent is None and (reach is None or not isinstance(function, WINDOW_AGGREGATES)):
            raise unsupported(spec, f"window frame {spec.sql()}")
        if extent is None:
            extent = "moving"
        partition = node.args.get("partition_by") or []
        ordered = (node.args.get("order") or exp.Order()).expressions
        fns = {f"{label}_p{i}": compile_expression(e, labels) for i, e in enumerate(partition)}
        fns |= {f"{label}_s{i}": compile_expression(o.this, labels) for i, o in enumerate(ordered)}
        argument = function.this if isinstance(function, (*WINDOW_AGGREGATES, *VALUE_WINDOWS)) \
            else None
        if argument is not None and not isinstance(argument, exp.Star):
            fns[f"{label}_v"] = compile_expression(argument, labels)
        shift = _shift(function)
        if isinstance(function, SHIFTS) and function.args.get("default") is not None:
            fns[f"{label}_d"] = compile_expression(function.args["default"], labels)
        frame = _mapped(frame, _assign, fns)
        by = [f"{label}_p{i}" for i in range(len(partition))]
        frame = frame.shuffle(on=by) if by else frame.repartition(npartitions=1)
        task = _WindowTask(
            label, by, [f"{label}_s{i}" for i in range(len(ordered))],
            [not o.args.get("desc") for o in ordered], _function_name(function),
            f"{label}_v" if f"{label}_v" in fns else None,
            extent if ordered or extent == "moving" else "partition",
            shift, f"{label}_d" if f"{label}_d" in fns else None, _buckets(function), reach)
        frame = frame.map_partitions(task, meta=task(frame._meta)).drop(columns=list(fns))
        scale = decimal_scale(function) if isinstance(function, exp.Sum) else None
        if scale is None:
            return frame
        # a running sum of DECIMALs, exact to DuckDB, put back on the scale
        return frame.assign(**{label: _on_scale(frame[label], scale)})

    def project(self, relation: Relation, outputs: list[exp.Expr], order: list[exp.Ordered],
                distinct: bool) -> tuple[Relation, list[tuple[str, bool, bool]]]:
        """The SELECT list by output names, plus the ORDER BY keys it needs (``_s<i>``)."""
        labels = relation.labels()
        fns = {e.alias_or_name: compile_expression(e, labels) for e in outputs}
        names = {e.alias_or_name for e in outputs}
        output_labels = {name: name for name in names}
        keys = []
        for i, ordered in enumerate(order):
            key = ordered.this
            # sqlglot names a position's output, but keeps the position of a repeated name
            output = _output_at(key, outputs, "ORDER BY")
            if output is not None:
                keys.append((output.alias_or_name, ordered))
                continue
            if isinstance(key, exp.Column) and not key.table and key.name in names:
                keys.append((key.name, ordered))
                continue
            if distinct:
                raise unsupported(ordered, "ORDER BY a value not in the SELECT DISTINCT list")
            try:
                fns[f"_s{i}"] = compile_expression(key, labels)
            except SqlError:
                fns[f"_s{i}"] = compile_expression(key, output_labels)
            keys.append((f"_s{i}", ordered))
        frame = _mapped(relation.frame, _project, fns)
        return relation.selected(frame, relation.rows, outputs), [
            (label, not o.args.get("desc"), _nulls_first(o)) for label, o in keys]

    def _with_keys(self, relation: Relation, keys: list[tuple[Fn, exp.Ordered]]
                   ) -> tuple[Relation, list[tuple[str, bool, bool]]]:
        fns = {f"_s{i}": fn for i, (fn, _) in enumerate(keys)}
        if not fns:
            return relation, []
        frame = _mapped(relation.frame, _assign, fns)
        return Relation(frame, relation.rows), [
            (f"_s{i}", not o.args.get("desc"), _nulls_first(o)) for i, (_, o) in enumerate(keys)]

    def sort(self, relation: Relation, keys: list[tuple[str, bool, bool]], node: exp.Expr,
             names: list[str]) -> Relation:
        """ORDER BY / LIMIT / OFFSET: a top-k per partition under a LIMIT, else a sort."""
        limit = _count(node.args.get("limit"), "LIMIT")
        offset = _count(node.args.get("offset"), "OFFSET") or 0
        frame = relation.frame
        size = choose("sort", _bytes(relation))
        nulls = {first for _, _, first in keys}
        if keys and limit is None and size.strategy == "shuffle" and len(nulls) == 1:
            # too big for one partition: Dask's sort (sampled quantiles, then a shuffle)
            frame = _sorted_across_partitions(frame, keys, nulls.pop())
            self.steps.append(f"sort by {len(keys)} key(s) across partitions: {size}")
        elif keys:
            task = _SortTask(keys, None if limit is None else limit + offset)
            if limit is not None:
                frame = frame.map_partitions(task, meta=frame._meta)
                self.steps.append(f"top {limit + offset} by {len(keys)} key(s), per partition")
            else:
                self.steps.append(f"sort by {len(keys)} key(s) in one partition: {size}")
            frame = frame.repartition(npartitions=1).map_partitions(task, meta=frame._meta)
        elif limit is not None:
            frame = frame.map_partitions(_head, limit + offset, meta=frame._meta)
            frame = frame.repartition(npartitions=1).map_partitions(
                _head, limit + offset, meta=frame._meta)
        if offset:
            frame = frame.map_partitions(_skip, offset, meta=frame._meta)
        frame = frame[names] if list(frame.columns) != names else frame
        rows = relation.rows if limit is None else min(relation.rows, limit)
        return replace(relation, frame=frame, rows=rows)

    def _split(self, relation: Relation) -> int | bool:
        return split_out(choose("group by", _bytes(relation)))



# -- helpers run on partitions (module level: they travel to the workers) -------------------

# Dask's names (a holistic aggregate's spec holds a holistic.Holistic instead)
_AGG_NAMES = {exp.Sum: "sum", exp.Count: "count", exp.Avg: "mean", exp.Min: "min",
              exp.Max: "max"}
# Window frames computed: running up to the current row and its peers (SQL's default), up
# to the current row alone, or the whole window partition.
_FRAMES = {
    None: "peers",
    "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW": "peers",
    "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW": "rows",
    "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING": "partition",
    "RANGE BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING": "partition",
    # from the row (or its first peer) to the window partition's end: the running frames
    # above, over the rows in reverse
    "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING": "rows after",
    "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING": "peers after",
    # the rows before this one: the running frame one row back (empty for the first row)
    "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING": "rows before",
}


def _head(part: pd.DataFrame, n: int) -> pd.DataFrame:
    return part.head(n)


def _skip(part: pd.DataFrame, n: int) -> pd.DataFrame:
    return part.iloc[n:]


def _mapped(frame: dd.DataFrame, task: Callable[..., Any], fns: Fn | dict[str, Fn]
            ) -> dd.DataFrame:
    """``task`` over every partition, its meta from ``task`` over fake rows: an expression
    that cannot be evaluated on these column types is refused here, while planning (an
    empty column hides some: an empty string column compares with a number)."""
    sample = frame._meta_nonempty  # built anew on each access
    try:
        meta = task(sample, fns).iloc[:0]
    except ConversionError:  # the sample's made-up strings are no numbers: no fault of the SQL
        meta = task(frame._meta, fns)
    except EVALUATION_ERRORS as error:
        failed, cause = "an expression", error
        for fn in fns.values() if isinstance(fns, dict) else [fns]:  # which one
            try:
                evaluate(fn, sample)
            except EVALUATION_ERRORS as fn_error:
                failed, cause = getattr(fn, "sql", failed), fn_error
                break
        raise SqlError(f"cannot evaluate {failed} on these column types: {cause}",
                       "expression") from None
    return frame.map_partitions(task, fns, meta=meta)


def _assign(part: pd.DataFrame, fns: dict[str, Fn]) -> pd.DataFrame:
    """``part`` with a column per function of ``fns``; a function giving a frame (an
    identifier packed into several keys) gives its columns, ``<label>_<column>``."""
    columns = {}
    for label, fn in fns.items():
        value = fn(part)
        if frames.is_frame(value):
            columns.update({f"{label}_{name}": value[name] for name in value.columns})
        else:
            columns[label] = as_column(value, part)
    return part.assign(**columns)


def _project(part: pd.DataFrame, fns: dict[str, Fn]) -> pd.DataFrame:
    return part[[]].assign(**{label: evaluate(fn, part) for label, fn in fns.items()})


def _filter(part: pd.DataFrame, fn: Fn) -> pd.DataFrame:
    return true_rows(fn(part), part)


def _identifier(a: exp.Expr, left: Relation, b: exp.Expr, right: Relation
                ) -> Identifier | None:
    """How keys ``a`` and ``b`` are matched when both are columns holding identifier
    elements matched alike (:data:`IDENTIFIERS`)."""
    if not (isinstance(a, exp.Column) and isinstance(b, exp.Column)):
        return None
    identifier = IDENTIFIERS.get(left.elements.get(column_key(a), ""))
    return identifier if identifier is not None and IDENTIFIERS.get(
        right.elements.get(column_key(b), "")) == identifier else None


def _common_dtype(a: Any, b: Any) -> str | None:
    if a == b or not (pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)):
        return None
    if pd.api.types.is_integer_dtype(a) and pd.api.types.is_integer_dtype(b):
        nullable = isinstance(a, pd.api.extensions.ExtensionDtype) or isinstance(
            b, pd.api.extensions.ExtensionDtype)
        return "Int64" if nullable else "int64"
    return "float64"


def _assigned(relation: Relation, fns: dict[str, Fn]) -> Relation:
    if not fns:
        return relation
    return replace(relation, frame=_mapped(relation.frame, _assign, fns))


def _packed(fn: Fn, packer: Callable[[Any], Any]) -> Fn:
    """``fn``'s identifiers packed by ``packer``: a Series of keys, or a frame of them."""
    def run(part: pd.DataFrame) -> Any:
        keys = packer(evaluate(fn, part))
        return keys.where(keys >= 0)  # an invalid identifier never matches anything

    return tokenized(run, "packed", fn.__dask_tokenize__(),
                     f"{packer.__module__}.{packer.__qualname__}")


def _with_row_ids(part: pd.DataFrame, partition_info: dict | None = None) -> pd.DataFrame:
    number = (partition_info or {}).get("number", 0)
    return part.assign(**{ROW_ID: constant(1, part).cumsum() - 1 + (number << 40)})


def _matched(part: pd.DataFrame, matched: bool) -> pd.DataFrame:
    """The rows a left merge with a ``_hit`` column did (or did not) match."""
    # In a task, not as a Dask filter: dask-expr would push the filter into the merge.
    # ``.values``: numpy on pandas, cupy on cuDF, so the mask never leaves the device.
    hit = part["_hit"].notna().values
    return part[hit if matched else ~hit].drop(columns="_hit")


def _null_keys(part: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return part[part[keys].isna().any(axis=1)]


def _keep_if(part: pd.DataFrame, any_row: bool, semi: bool) -> pd.DataFrame:
    return part if bool(any_row) == semi else part.iloc[:0]


def _not_in_nulls(part: pd.DataFrame, has_null: bool, nonempty: bool, value: Fn
                  ) -> pd.DataFrame:
    """NOT IN: no row once the subquery has a NULL; a NULL ``value`` passes only an empty
    subquery."""
    if not nonempty:
        return part
    if has_null:
        return part.iloc[:0]
    return part[evaluate(value, part).notna()]


class _Task:
    """A per-partition task object, named and tokenized by its class and fields.

    Dask names a callable without ``__name__`` by its repr, which holds its address: equal
    tasks got different names, and a name is what Dask's fusion and the session's fused
    graphs go by (a window query once failed to fuse, "Cannot fuse tasks with multiple
    outputs").
    """

    __name__ = "task"

    def __dask_tokenize__(self) -> tuple:
        return type(self).__qualname__, sorted(vars(self).items())


class _WindowTask(_Task):
    """One window function over a partition holding whole window partitions."""

    __name__ = "window"

    def __init__(self, label: str, by: list[str], order: list[str], ascending: list[bool],
                 function: str, value: str | None, extent: str, shift: int = 0,
                 default: str | None = None, buckets: int = 0,
                 reach: tuple[int, int] = (0, 0)) -> None:
        self.label, self.by, self.order, self.ascending = label, by, order, ascending
        self.function, self.value, self.extent = function, value, extent
        self.shift, self.default = shift, default  # LAG and LEAD's
        self.buckets = buckets  # NTILE's
        self.reach = reach  # a moving frame's rows before and after the current one

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        part = frames.sort_stable(part, self.by + self.order,
                                  [True] * len(self.by) + self.ascending, "last")
        groups = _group_ids(part, self.by)
        peers = _group_ids(part, self.by + self.order) if self.order else groups
        position = constant(1, part).cumsum() - 1
        start = position.groupby(groups).transform("min")
        size = position.groupby(groups).transform("size") if self.function in SIZED else None
        if self.function == "row_number":
            values = position - start + 1
        elif self.function == "rank":
            values = position.groupby(peers).transform("min") - start + 1
        elif self.function == "percent_rank":  # (rank - 1) / (rows - 1), 0 for one row
            rank = position.groupby(peers).transform("min") - start
            values = (rank / (size - 1).where(size > 1, 1)).astype("float64")
        elif self.function == "cume_dist":  # the share of rows up to the last peer
            values = (position.groupby(peers).transform("max") - start + 1) / size
        elif self.function == "ntile":
            values = _ntile(position - start, size, self.buckets)
        elif self.function == "first_value":  # at the frame's first row: the window
            # partition's first, or this row, or its first peer
            first = start if not self.extent.endswith(" after") else position \
                if self.extent == "rows after" else position.groupby(peers).transform("min")
            values = _at(part[self.value], first)
        elif self.function == "last_value":  # at the frame's last row: this one, its last
            # peer, the one before, or the window partition's last
            last = position if self.extent == "rows" else position - 1 \
                if self.extent == "rows before" else position.groupby(
                    peers if self.extent == "peers" else groups).transform("max")
            values = _at(part[self.value], last)
        elif self.function == "dense_rank":
            first = ~peers.duplicated()
            values = first.astype("int64").groupby(groups).cumsum()
        elif self.function == "shift":
            values = part[self.value].groupby(groups).shift(self.shift)
            if self.default is not None:  # a row whose shifted row is outside its window
                inside = position - start - self.shift
                values = values.where((inside >= 0) & (inside < size), part[self.default])
        else:
            values = self._aggregate(part, groups, peers)
        if self.extent == "rows before" and self.function in ("first_value", "last_value"):
            values = values.where(position > start)  # the first row's frame is empty
        return part.assign(**{self.label: values})

    def _aggregate(self, part: pd.DataFrame, groups: pd.Series, peers: pd.Series) -> pd.Series:
        value = part[self.value] if self.value else constant(1, part)
        if self.extent.endswith(" after"):  # the running aggregate of the rows in reverse
            backwards = slice(None, None, -1)
            return self._running(value.iloc[backwards], groups.iloc[backwards],
                                 peers.iloc[backwards], self.extent == "rows after"
                                 ).iloc[backwards]
        if self.extent == "rows before":  # the running aggregate of the row before
            before = self._running(value, groups, peers, True).groupby(groups).shift(1)
            counted = self.function in ("count", "count_star")  # of no row: 0
            return before.fillna(0).astype("int64") if counted else before
        if self.extent == "moving":
            return self._moving(value, groups)
        if self.extent == "partition":
            name = {"count_star": "size"}.get(self.function, self.function)
            result = value.groupby(groups).transform(name)
            # SUM of no non-NULL value is NULL. (cuDF's groupby has no "any": max instead.)
            return result if self.function != "sum" else result.where(
                value.notna().astype("int64").groupby(groups).transform("max") > 0)
        return self._running(value, groups, peers, self.extent == "rows")

    def _running(self, value: pd.Series, groups: pd.Series, peers: pd.Series, rows: bool
                 ) -> pd.Series:
        """The aggregate of each row's window partition up to it (``rows``), or up to its
        last peer, in the order of ``value``."""
        counts = value.notna().astype("int64").groupby(groups).cumsum()
        if self.function in ("count", "count_star"):  # COUNT(*)'s value is 1 on every row
            running = counts
        elif self.function in ("sum", "mean"):
            total = value.fillna(0).groupby(groups).cumsum().where(counts > 0)
            running = total if self.function == "sum" else total / counts
        else:
            # a running MIN/MAX keeps its value over NULL rows (pandas would give NaN there)
            running = getattr(value.groupby(groups), f"cum{self.function}")().groupby(
                groups).ffill()
        if rows:
            return running
        # RANGE ... CURRENT ROW: peers (equal ORDER BY values) share the last peer's value
        return running.groupby(peers).transform("last")

    def _moving(self, value: pd.Series, groups: pd.Series) -> pd.Series:
        """The aggregate over the rows from ``before`` rows back to ``after`` ahead (ROWS
        BETWEEN n PRECEDING AND m FOLLOWING) within the window partition: over that many
        shifted copies of the column, added in order (a difference of running sums would lose
        a small window's digits beside a large total)."""
        before, after = self.reach
        near = [value.groupby(groups).shift(j) if j else value for j in range(-after, before + 1)]
        counts = sum(v.notna().astype("int64") for v in near)
        if self.function in ("count", "count_star"):  # COUNT(*)'s value is 1 on every row
            return counts
        if self.function in ("sum", "mean"):
            total = sum(v.fillna(0) for v in near).where(counts > 0)
            return total if self.function == "sum" else total / counts
        best = near[0]
        for other in near[1:]:  # NULLs skipped: a value wins over NULL and over a worse one
            wins = other < best if self.function == "min" else other > best
            best = other.where(frames.definite(wins) | best.isna(), best)
        return best


def _at(column: pd.Series, positions: pd.Series) -> pd.Series:
    """The values of ``column`` at ``positions`` (row numbers from 0), NULLs too, on the
    index of ``column``."""
    picked = column.take(positions.values)
    picked.index = column.index
    return picked


def _ntile(row: pd.Series, size: pd.Series, buckets: int) -> pd.Series:
    """NTILE's bucket of each ``row`` (from 0) of a window partition of ``size`` rows, as
    DuckDB and PostgreSQL deal them: the first ``size % buckets`` buckets one row larger."""
    count = size.clip(upper=buckets)  # never more buckets than rows
    small = size // count  # rows in a bucket, at least one
    large = size - count * small  # the buckets that take one row more
    in_large = large * (small + 1)  # the rows in those
    return (row // (small + 1)).where(row < in_large,
                                      large + (row - in_large) // small) + 1


def _group_ids(part: pd.DataFrame, columns: list[str]) -> pd.Series:
    if not columns:
        return constant(0, part)
    return part.groupby(columns, dropna=False, sort=False).ngroup()


class _SortTask(_Task):
    """Sort a partition (and keep its first ``limit`` rows): the same task for the per-
    partition top-k and for the final merge of the candidates."""

    __name__ = "sort"

    def __init__(self, keys: list[tuple[str, bool, bool]], limit: int | None) -> None:
        self.keys, self.limit = keys, limit

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        # stable sorts from the last key to the first: each key its own NULLS FIRST/LAST
        for label, ascending, nulls_first in reversed(self.keys):
            part = frames.sort_stable(part, label, ascending,
                                      "first" if nulls_first else "last")
        return part if self.limit is None else part.head(self.limit)


def _group_key(key: exp.Expr, relation: Relation) -> tuple[exp.Expr, exp.Expr]:
    """What computes group key ``key``, and the expression whose facts (its data element)
    the key's column keeps. An ``IDENTITY(column)`` key (``rewrite.identity_groups``) is its
    column, by its normalised value where it holds an identifier: the value its join packs."""
    if not (isinstance(key, exp.Anonymous) and key.name == IDENTITY):
        return key, key
    column = key.expressions[0]
    identifier = IDENTIFIERS.get(relation.elements.get(column_key(column), "")) \
        if isinstance(column, exp.Column) else None
    if identifier is None:
        return column, column
    return exp.Anonymous(this=identifier.normalise, expressions=[column.copy()]), column


def _on_scale(column: dd.Series, scale: int) -> dd.Series:
    """A sum of DECIMALs of ``scale`` put back on it (:func:`frames.on_scale`)."""
    return column.map_partitions(frames.on_scale, scale, meta=column._meta)


def _summed_scale(agg: exp.Expr) -> int | None:
    """The DECIMAL scale of what SUM ``agg`` adds up (of SUM(DISTINCT x), x's); None for
    other aggregates and operands."""
    if not isinstance(agg, exp.Sum):
        return None
    operand = agg.this
    return decimal_scale(operand.expressions[0] if isinstance(operand, exp.Distinct)
                         else operand)


def _aggregate_set(frame: dd.DataFrame, keys: list[str], all_keys: list[str],
                   specs: list[tuple[str, str, str | None, bool]], split: int | bool,
                   scales: dict[str, int]) -> dd.DataFrame:
    """One grouping set: aggregates by ``keys``; the other group keys NULL; the aggregates
    of ``scales`` put on their DECIMAL scale (:func:`frames.on_scale`)."""
    grouped_frame = frame if keys else frame.assign(_k=0)
    by = keys or ["_k"]
    named: dict[str, tuple[str, str]] = {}  # result column: (operand, function)

    def aggregated(label: str, spec: tuple[str, str]) -> str:
        """The result column computing ``spec``: ``label``, or the one that does already
        (Dask refuses the same spec twice, and SUM(x) and COUNT(x) both count x)."""
        known = next((column for column, wanted in named.items() if wanted == spec), None)
        if known is None:
            named[label] = spec
        return known or label

    def on_scale(label: str, column: dd.Series) -> dd.Series:
        return _on_scale(column, scales[label]) if label in scales else column

    sources, nonnull = {}, {}
    for label, how, operand, distinct in specs:
        if distinct or isinstance(how, holistic.Holistic):
            continue
        sources[label] = aggregated(label, (by[0], "size") if how == "size" else (operand, how))
        if how == "sum":  # SUM of no non-NULL value is NULL
            nonnull[label] = aggregated(f"{label}_n", (operand, "count"))
    if not named:
        named["_n"] = (by[0], "size")
    result = grouped_frame.groupby(by, dropna=False).agg(
        **named, split_out=split if keys else 1).reset_index()

    def finished(label: str, source: str) -> dd.Series:
        value = on_scale(label, result[source])
        return value.where(result[nonnull[label]] > 0) if label in nonnull else value

    copies = {label: finished(label, source) for label, source in sources.items()
              if label != source or label in nonnull or label in scales}
    if copies:
        result = result.assign(**copies)
    for label, how, operand, distinct in specs:
        if distinct:  # each group's distinct values, then their count, sum, mean...
            unique = grouped_frame[[*by, operand]].drop_duplicates(split_out=split if keys else 1)
            values = unique.groupby(by, dropna=False)[operand]
            # SUM of no non-NULL value is NULL
            reduced = values.sum(min_count=1) if how == "sum" else values.agg(how)
            result = result.merge(on_scale(label, reduced).rename(label).reset_index(), on=by,
                                  how="left")
    wholes = [(label, operand, how) for label, how, operand, _ in specs
              if isinstance(how, holistic.Holistic)]
    if wholes:  # each group's rows brought together, once for all holistic aggregates
        read = dict.fromkeys(c for _, operand, how in wholes for c in (operand, *how.columns))
        values = grouped_frame[[*by, *read]]
        values = values.shuffle(on=by) if keys else values.repartition(npartitions=1)
        task = _HolisticTask(by, wholes)
        result = result.merge(values.map_partitions(task, meta=task(values._meta)),
                              on=by, how="left")
    if not keys:
        nulls = [label for label, how, _, _ in specs if how not in ("size", "count")]
        result = result.repartition(npartitions=1).map_partitions(
            _one_row, nulls, meta=result._meta).drop(columns=["_k"])
    missing = [k for k in all_keys if k not in keys]
    if missing:
        # NULL keys: float64 NaN on pandas, nulls on cuDF (which does not concatenate a NaN
        # column with a string key of another grouping set; an all-null one it does)
        result = result.map_partitions(frames.with_missing, missing,
                                       meta=frames.with_missing(result._meta, missing))
    return result[[*all_keys, *(label for label, _, _, _ in specs)]]


class _HolisticTask(_Task):
    """A partition's groups' holistic aggregates (:func:`holistic.aggregated`)."""

    __name__ = "holistic-aggregate"

    def __init__(self, by: list[str], specs: list[tuple[str, str, holistic.Holistic]]) -> None:
        self.by, self.specs = by, specs

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        return holistic.aggregated(part, self.by, self.specs)


def _one_row(part: pd.DataFrame, nulls: list[str]) -> pd.DataFrame:
    """A global aggregate has one row even over no input rows: NULL in ``nulls``, 0 (counts)
    in the other columns."""
    if len(part):
        return part
    # reindex makes the row missing everywhere, in each library's own way (pandas: NaN,
    # integers as float64; cuDF: nulls, dtypes kept); the counts are then filled with 0.
    row = part.reset_index(drop=True).reindex([0])
    zeros = [c for c in part.columns if c not in nulls]
    return row.fillna(dict.fromkeys(zeros, 0)).astype({c: part[c].dtype for c in zeros})


# -- tree helpers ---------------------------------------------------------------------------


def _conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    """The AND-ed terms of ``condition``, plus the terms every branch of an OR shares.

    ``(k = k2 AND a) OR (k = k2 AND b)`` implies ``k = k2``: stating it makes an equi-join
    of what would be a cross join (TPC-H Q19) and lets single-table terms reach the scan.
    """
    if isinstance(condition, exp.Boolean) and condition.this:
        return []
    terms = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    for term in list(terms):
        if isinstance(term, exp.Or):
            branches = [list(b.flatten()) if isinstance(b, exp.And) else [b]
                        for b in term.flatten()]
            shared = [t for t in branches[0] if all(t in b for b in branches[1:])]
            terms += [t.copy() for t in shared if t not in terms]
    return terms


def _join_order(first: exp.Expr, joins: Sequence[exp.Join],
                sized: Callable[[str], Relation] | None = None) -> list[exp.Join]:
    """``joins`` with their leading inner joins reordered so no needless cross join is planned.

    sqlglot's optimiser moves WHERE equalities into the ON of the last join that makes them
    resolvable but keeps the FROM order: TPC-H Q02's ``FROM part, supplier, partsupp WHERE
    p_partkey = ps_partkey AND s_suppkey = ps_suppkey`` becomes ``part CROSS JOIN supplier
    JOIN partsupp ON ...``, a part x supplier product that runs the workers out of memory at
    scale factor 1. Inner joins commute, so the leading run of inner and cross joins is
    reordered greedily: after the FROM item ``first`` comes, each time, the item left that an
    equality ties to the items already joined, else the first item left (a real cross join).
    Of several tied items the one whose join keeps the fewest rows comes first, estimated as
    the planner sizes an equi-join from the items' relations (``sized``, by alias; without
    it, the first in written order): q21's one nation before its suppliers' line items, not
    after; q05's orders before the suppliers of the customers' nations. Each join gets the
    run's ON terms that it makes resolvable (terms naming no table go to the first); none is
    dropped or repeated. The joins from the first outer, semi, anti or USING join on follow
    the run, in their order.

    The joins come back as they were when the order would not change (so plans of queries
    written in a good order stay as they are) and when an ON term holds a subquery. The new
    joins hold copies: the tree they came from is left as it is.
    """
    run = list(itertools.takewhile(_plain_inner, joins))
    items = {join.this.alias_or_name: join.this for join in run}
    start = first.alias_or_name
    terms = [term for join in run if (on := join.args.get("on")) is not None
             for term in _conjuncts(on)]
    tables = [_tables(term) for term in terms]
    if (len(items) != len(run) or start in items
            or any(term.find(exp.Subquery, exp.Select, exp.Exists) for term in terms)
            or any(t - {start, *items} for t in tables)):
        return list(joins)
    joined, order = {start}, []
    rows, distinct = 0, {}
    if sized is not None:
        rows, distinct = sized(start).rows, dict(sized(start).distinct)
    while len(order) < len(run):
        left = [alias for alias in items if alias not in joined]
        tied = {a: [pair for term in terms if (pair := _link(term, joined, a))] for a in left}
        tied = {a: pairs for a, pairs in tied.items() if pairs}
        if sized is None or len(tied) < 2:
            alias = next(iter(tied), left[0])
        else:
            after = {a: _joined_rows(rows, distinct, sized(a).rows, sized(a).distinct, pairs)
                     for a, pairs in tied.items()}
            alias = min(after, key=after.__getitem__)
        if sized is not None:
            rows = _joined_rows(rows, distinct, sized(alias).rows, sized(alias).distinct,
                                tied.get(alias, []))
            distinct.update(sized(alias).distinct)
        joined.add(alias)
        order.append(alias)
    if order == list(items):
        return list(joins)
    joined, placed, reordered = {start}, set(), []
    for alias in order:
        joined.add(alias)
        now = [i for i, t in enumerate(tables) if i not in placed and t <= joined]
        placed.update(now)
        item = items[alias].copy()
        reordered.append(
            exp.Join(this=item, on=exp.and_(*(terms[i].copy() for i in now))) if now
            else exp.Join(this=item, kind="CROSS"))
    return reordered + list(joins[len(run):])


def _plain_inner(join: exp.Join) -> bool:
    """Whether ``join`` is an inner or cross join with an ON (or none): one that commutes."""
    return (not join.side and join.kind in ("", "INNER", "CROSS")
            and not any(join.args.get(k) for k in ("using", "method", "match_condition")))


def _tables(expression: exp.Expr) -> set[str]:
    """The aliases the columns of ``expression`` name."""
    return {column.table for column in expression.find_all(exp.Column)}


def _link(term: exp.Expr, joined: set[str], alias: str
          ) -> tuple[exp.Expr, exp.Expr] | None:
    """The (over ``joined``, over ``alias``) sides of ``term`` when it is an equality of an
    expression over tables of ``joined`` and one over ``alias`` alone (an equi-join key of
    joining ``alias`` next), else None."""
    if not isinstance(term, exp.EQ):
        return None
    for mine, other in ((term.this, term.expression), (term.expression, term.this)):
        a, b = _tables(mine), _tables(other)
        if a == {alias} and b and b <= joined:
            return other, mine
    return None


def _aggregates(expression: exp.Expr) -> list[exp.AggFunc]:
    """The grouped aggregate calls of ``expression``: not a window's own function (``SUM(x)
    OVER ...``) nor one inside another aggregate, but those a window function takes, orders
    or partitions by (``SUM(SUM(x)) OVER ()``, ``RANK() OVER (ORDER BY SUM(x))``). Not
    GROUPING(k), which is no aggregate of rows but a constant of each grouping set."""
    return [node for node in expression.find_all(exp.AggFunc) if not _windowed(node)
            and not isinstance(node, exp.Grouping)
            and ((outer := node.find_ancestor(exp.AggFunc)) is None or _windowed(outer))]


def _windowed(node: exp.Expr) -> bool:
    """Whether ``node`` is the function a window computes."""
    return isinstance(node.parent, exp.Window) and node.arg_key == "this"


def _sorted_across_partitions(frame: dd.DataFrame, keys: list[tuple[str, bool, bool]],
                              nulls_first: bool) -> dd.DataFrame:
    """``frame`` sorted by ``keys`` ((column, ascending, _) each) with Dask's distributed
    sort, NULLs first or last.

    Dask partitions by the first key and checks whether the partitions are sorted already
    from their least and greatest values, which pass over NULLs: partitions [NULL, 8] and
    [6, 1] passed for sorted (descending), and the NULL stayed second of seven rows. So the
    rows whose first key is NULL are sorted apart, by the other keys, and put before or
    after the rest; the other keys' NULLs are placed within each partition.
    """
    first, rest = keys[0][0], keys[1:]
    valued = frame[~frame[first].isna()].sort_values(
        [k for k, _, _ in keys], ascending=[a for _, a, _ in keys],
        na_position="first" if nulls_first else "last")
    missing = frame[frame[first].isna()]
    if rest:
        missing = _sorted_across_partitions(missing, rest, nulls_first)
    return dd.concat([missing, valued] if nulls_first else [valued, missing])


def _output_at(key: exp.Expr, outputs: list[exp.Expr], clause: str) -> exp.Expr | None:
    """The SELECT-list item that ``key`` of ``clause`` names by its position (an integer,
    from 1), or None when ``key`` is no position."""
    if not (isinstance(key, exp.Literal) and key.is_int):
        return None
    position = key.to_py()
    if not 1 <= position <= len(outputs):
        raise unsupported(key, f"{clause} position {position} of a SELECT list of "
                               f"{len(outputs)}")
    return outputs[position - 1]


def _grouping_sets(group: exp.Group | None, outputs: list[exp.Expr]
                   ) -> tuple[list[exp.Expr], list[list[int]]]:
    """All group keys and the grouping sets over them, as indices into the keys. An integer
    key is a position in the SELECT list ``outputs``: sqlglot replaces those of a plain
    GROUP BY, not those in ROLLUP, CUBE and GROUPING SETS."""
    if group is None:
        return [], [[]]
    keys: list[exp.Expr] = []

    def index(expression: exp.Expr) -> int:
        expression = expression.unnest() if isinstance(expression, exp.Paren) else expression
        output = _output_at(expression, outputs, "GROUP BY")
        if output is not None:
            expression = output.unalias()
        if expression not in keys:
            keys.append(expression)
        return keys.index(expression)

    def items(node: exp.Expr) -> list[int]:
        if isinstance(node, exp.Tuple):
            return [index(e) for e in node.expressions]
        return [index(node)]

    sets: list[list[int]] = [[]]
    for expression in group.expressions:
        if isinstance(expression, exp.Rollup):
            columns = [items(e) for e in expression.expressions]
            options = [list(itertools.chain(*columns[:n])) for n in range(len(columns), -1, -1)]
        elif isinstance(expression, exp.Cube):
            columns = [items(e) for e in expression.expressions]
            options = [list(itertools.chain(*itertools.compress(columns, mask)))
                       for mask in itertools.product([1, 0], repeat=len(columns))]
        elif isinstance(expression, exp.GroupingSets):
            options = [items(e) if not isinstance(e, exp.Tuple) or e.expressions else []
                       for e in expression.expressions]
        else:
            options = [[index(expression)]]
        sets = [s + o for s in sets for o in options]
    return keys, [sorted(set(s)) for s in sets]


def _groupings(expressions: list[exp.Expr], keys: list[exp.Expr]
               ) -> dict[exp.Expr, tuple[str, list[int]]]:
    """The GROUPING(k, ...) calls in ``expressions``: each one's column ``_gr<i>`` and the
    positions of its arguments among the group ``keys``."""
    found: dict[exp.Expr, tuple[str, list[int]]] = {}
    bare = [key.unnest() for key in keys]  # an alias's expression comes in parentheses
    for expression in expressions:
        for node in expression.find_all(exp.Grouping):
            arguments = [a.unnest() for a in node.expressions]
            if node in found:
                continue
            if any(argument not in bare for argument in arguments):
                raise unsupported(node, "GROUPING of other than the GROUP BY keys")
            found[node] = (f"_gr{len(found)}", [bare.index(a) for a in arguments])
    return found


def _grouping_bits(positions: list[int], grouped: list[int]) -> int:
    """GROUPING's value in the grouping set of the keys ``grouped``: a bit for each argument,
    the first the highest, 1 where that key is not grouped (its rows are a subtotal)."""
    return sum(1 << (len(positions) - 1 - bit) for bit, position in enumerate(positions)
               if position not in grouped)


def _aggregated(keys: list[exp.Expr], found: dict[exp.Expr, str]
                ) -> Callable[[exp.Expr], exp.Expr]:
    """Rewrite an expression over the aggregated relation: aggregates and group keys become
    its columns; a column neither grouped nor aggregated is refused."""
    replacements = {**found, **{k: f"_g{i}" for i, k in enumerate(keys)}}

    labels = set(replacements.values())

    def rewrite(expression: exp.Expr) -> exp.Expr:
        result = _replacing(replacements)(expression)
        ordered = isinstance(result, exp.Ordered)
        for column in result.find_all(exp.Column):
            # an unqualified name in ORDER BY is an output column
            if column.name not in labels and (column.table or not ordered):
                raise unsupported(column, f"column {column.sql()} neither grouped nor "
                                          "aggregated")
        return result

    return rewrite


def _replacing(replacements: dict[exp.Expr, str]) -> Callable[[exp.Expr], exp.Expr]:
    def replace(node: exp.Expr) -> exp.Expr:
        label = replacements.get(node)
        # not a window's own function: COUNT(*) OVER () beside a grouped COUNT(*) counts the
        # groups, it is no copy of the aggregate
        if label is not None and not isinstance(node, exp.Alias) and not _windowed(node):
            column = exp.column(label)
            column.type = node.type  # MAX(d) - MIN(d) of dates is still days
            return column
        return node

    def rewrite(expression: exp.Expr) -> exp.Expr:
        return expression.copy().transform(replace)

    return rewrite


def _used_columns(select: exp.Select, alias: str, names: Sequence[str], prefix: str = ""
                  ) -> list[str]:
    """Of ``names`` (``prefix`` + a column of ``alias``), those ``select`` itself reads (not
    its subqueries' own scopes), in their order; the first when it reads none (a COUNT(*)
    still needs the rows)."""
    used = {prefix + c.name for c in find_all_in_scope(select, exp.Column) if c.table == alias}
    return [name for name in names if name in used] or list(names[:1])


def _scan_filter(condition: exp.Expr, alias: str, schema: Any, stored: dict[str, str]
                 ) -> Filter | None:
    """``condition`` as a pyarrow filter term on ``alias``'s table, when it is one; ``stored``
    gives a column's name in the table by its folded one."""
    op = SCAN_OPERATORS.get(type(condition))
    if op is not None:
        column, value = condition.this, condition.expression
        if isinstance(value, exp.Column) and not isinstance(column, exp.Column):
            column, value = value, column
            op = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(op, op)
        values = [value]
    elif isinstance(condition, exp.In) and not condition.args.get("query"):
        column, values, op = condition.this, condition.expressions, "in"
    else:
        return None
    if not isinstance(column, exp.Column) or column.table != alias \
            or column.name not in stored:
        return None
    name = stored[column.name]
    index = schema.get_field_index(name)
    arrow = schema.field(index).type
    if pa.types.is_date(arrow):
        parsed = [_date_literal(v) for v in values]
    elif pa.types.is_integer(arrow) or pa.types.is_floating(arrow):
        parsed = [_number_literal(v) for v in values]
    elif pa.types.is_string(arrow) or pa.types.is_large_string(arrow):
        parsed = [v.this if isinstance(v, exp.Literal) and v.is_string else None for v in values]
    else:
        return None
    if any(p is None for p in parsed):
        return None
    return (name, op, parsed if op == "in" else parsed[0])


def _date_literal(node: exp.Expr) -> Any:
    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.DATE and isinstance(
            node.this, exp.Literal) and node.this.is_string:
        return pd.Timestamp(node.this.this).date()
    return None


def _number_literal(node: exp.Expr) -> Any:
    if isinstance(node, exp.Literal) and not node.is_string:
        return int(node.this) if node.is_int else float(node.this)
    return None


def _sides(condition: exp.Expr, left: set[str], right: set[str], join: exp.Join) -> set[str]:
    sides = set()
    for column in condition.find_all(exp.Column):
        key = column_key(column)
        if key in left:
            sides.add("left")
        elif key in right:
            sides.add("right")
        else:
            raise unsupported(column, f"column {column.sql()} in the condition of "
                                      f"{join.this.alias_or_name}")
    return sides


def _described(choice: JoinChoice) -> str:
    """The planner's reason, or that the strategy was forced (or the only one possible)."""
    decided = "broadcast" if choice.estimated_bytes <= choice.limit else "shuffle"
    if decided == choice.strategy:
        return str(choice)
    forced = dask.config.get("govgrid.sql.join", default="auto")
    why = "forced by govgrid.sql.join" if forced == choice.strategy else "FULL join"
    return f"{choice.strategy} ({why}; {format_bytes(choice.estimated_bytes)})"


def _equi_pair(condition: exp.Expr, left: set[str], right: set[str], join: exp.Join
               ) -> tuple[exp.Expr, exp.Expr] | None:
    """(left key, right key) of ``a = b`` with each side over one relation, else None."""
    if not isinstance(condition, exp.EQ):
        return None
    first = _sides(condition.this, left, right, join)
    second = _sides(condition.expression, left, right, join)
    if first == {"left"} and second == {"right"}:
        return condition.this, condition.expression
    if first == {"right"} and second == {"left"}:
        return condition.expression, condition.this
    return None


def _nulls_first(ordered: exp.Ordered) -> bool:
    return bool(ordered.args.get("nulls_first"))


def _count(node: exp.Expr | None, what: str) -> int | None:
    if node is None:
        return None
    if isinstance(node, exp.Fetch):  # FETCH FIRST [n] ROWS ONLY: a LIMIT, of 1 unless n
        value = node.args.get("count") or exp.Literal.number(1)
    else:
        value = node.expression if isinstance(node, (exp.Limit, exp.Offset)) else node
    if not (isinstance(value, exp.Literal) and value.is_int):
        raise unsupported(node, f"{what} other than an integer literal")
    return int(value.this)


def _function_name(function: exp.Expr) -> str:
    if isinstance(function, exp.Count) and isinstance(function.this, exp.Star):
        return "count_star"
    return {exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank",
            exp.Lag: "shift", exp.Lead: "shift", exp.Ntile: "ntile",
            exp.FirstValue: "first_value", exp.LastValue: "last_value",
            exp.PercentRank: "percent_rank", exp.CumeDist: "cume_dist",
            **_AGG_NAMES}[type(function)]


def _shift(function: exp.Expr) -> int:
    """The rows LAG looks back (positive) or LEAD ahead (negative); 0 for other functions."""
    if not isinstance(function, SHIFTS):
        return 0
    offset = function.args.get("offset")
    if offset is not None and not offset.is_int:
        raise unsupported(offset, f"{function.sql_name()} by an offset that is not an "
                                  "integer constant")
    rows = offset.to_py() if offset is not None else 1
    return rows if isinstance(function, exp.Lag) else -rows


def _reach(spec: exp.WindowSpec) -> tuple[int, int] | None:
    """A moving frame's rows before and after the current one (``ROWS BETWEEN 2 PRECEDING AND
    1 FOLLOWING``: (2, 1)); None for another frame, or one of more than MOVING_ROWS rows."""
    if (spec.args.get("kind") or "").upper() != "ROWS" or spec.args.get("exclude"):
        return None
    bounds = []
    for bound, side in ((spec.args.get("start"), spec.args.get("start_side")),
                        (spec.args.get("end") or "CURRENT ROW", spec.args.get("end_side"))):
        if bound == "CURRENT ROW":
            bounds.append(0)
        elif isinstance(bound, exp.Literal) and bound.is_int:
            bounds.append(int(bound.this) * (-1 if (side or "").upper() == "PRECEDING" else 1))
        else:
            return None
    first, last = bounds
    if first > last or last - first + 1 > MOVING_ROWS:
        return None
    return -first, last


def _buckets(function: exp.Expr) -> int:
    """NTILE's count of buckets, a positive integer constant; 0 for other functions."""
    if not isinstance(function, exp.Ntile):
        return 0
    count = _count(function.this, "NTILE of buckets")
    if count is None or count < 1:
        raise unsupported(function, "NTILE of fewer than one bucket")
    return count


def _deduplicated(outputs: list[exp.Expr]) -> list[exp.Expr]:
    """A result's columns named as DuckDB's result frames name repeated ones: a name taken
    already (in any case) gets the smallest free suffix, so ``a, a`` is ``a, a_1``."""
    taken: set[str] = set()
    named = []
    for output in outputs:
        name = candidate = output.alias_or_name
        suffix = 0
        while candidate.lower() in taken:
            suffix += 1
            candidate = f"{name}_{suffix}"
        taken.add(candidate.lower())
        named.append(output if candidate == name else
                     exp.alias_(output.unalias(), candidate, quoted=True))
    return named


def _renamed(relation: Relation, alias: exp.TableAlias | None) -> Relation:
    """A query's relation under the column names of ``AS name (a, b)``."""
    names = [c.name for c in alias.columns] if isinstance(alias, exp.TableAlias) else []
    if not names:
        return relation
    if len(names) > len(relation.frame.columns):
        raise SqlError(f"{alias.name}: {len(names)} column names for "
                       f"{len(relation.frame.columns)} columns", "column alias list")
    columns = list(relation.frame.columns)
    return relation.renamed({**dict(zip(columns, columns, strict=True)),
                             **dict(zip(columns, names, strict=False))})


def _qualified(relation: Relation, alias: exp.TableAlias | None, name: str) -> Relation:
    relation = _renamed(relation, alias)
    return relation.renamed({c: f"{name}.{c}" for c in relation.frame.columns})


def _shape(frame: dd.DataFrame, choice: JoinChoice, small: bool) -> dd.DataFrame:
    """The broadcast side as one partition; every other side as it is."""
    return frame.repartition(npartitions=1) if small and choice.strategy == "broadcast" \
        else frame


def _groups(relation: Relation, keys: list[exp.Expr], sets: list[list[int]]) -> int:
    """Estimated rows of an aggregate: per grouping set, the product of the distinct values
    of the columns its keys are computed from (a key computed from columns has at most as
    many values as they have together), at most the input's rows; the input's rows where a
    column has no estimate."""
    total = 0
    for grouping_set in sets:
        groups = 1
        for column in (c for i in grouping_set for c in keys[i].find_all(exp.Column)):
            groups *= relation.distinct.get(column_key(column), relation.rows)
            if groups >= relation.rows:
                break
        total += min(groups, relation.rows)
    return total


def _bytes(relation: Relation) -> int:
    """Estimated size in memory: rows x column widths (strings counted at 32 bytes)."""
    width = sum(32 if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
                else getattr(dtype, "itemsize", 8) for dtype in relation.frame.dtypes)
    return relation.rows * max(width, 1)


# The share of rows a range comparison keeps when nothing better is known (System R's 1/3).
RANGE_SELECTIVITY = 1 / 3


def _filtered_rows(rows: int, filters: Sequence[Filter],
                   distinct: Callable[[str], int | None],
                   bounds: Callable[[str], tuple[Any, Any] | None]) -> int:
    """Estimated rows of a table of ``rows`` rows kept by the scan ``filters``: an equality
    keeps one of the column's distinct values, IN one per value listed; the range terms on a
    column keep the share of its values (``bounds``: smallest and largest, from the files'
    statistics) that they leave, as if spread evenly, else a third each. At least one row of
    a table that has any."""
    share = 1.0
    ranges: dict[str, list[tuple[str, Any]]] = {}
    for column, op, value in filters:
        values = distinct(column) or rows
        if op in ("==", "="):
            share *= 1 / max(values, 1)
        elif op == "in":
            share *= min(len(value) / max(values, 1), 1.0)
        else:
            ranges.setdefault(column, []).append((op, value))
    for column, terms in ranges.items():
        kept = _range_share(bounds(column), terms)
        share *= RANGE_SELECTIVITY ** len(terms) if kept is None else kept
    return min(rows, max(int(rows * share), 1)) if rows else 0


def _range_share(bounds: tuple[Any, Any] | None, terms: list[tuple[str, Any]]
                 ) -> float | None:
    """The share of a column's values from ``bounds`` (inclusive) that the comparisons
    ``terms`` (``<``, ``<=``, ``>``, ``>=``) all keep; None unless the bounds and the values
    compared are all integers or all dates."""
    if bounds is None:
        return None
    steps = ordinals([*bounds, *(value for _, value in terms)])
    if steps is None:
        return None
    low, high = steps[0], steps[1] + 1  # the values kept: low <= v < high
    start, stop = low, high
    for (op, _), value in zip(terms, steps[2:], strict=True):
        if op in ("<", "<="):
            stop = min(stop, value + (op == "<="))
        else:
            start = max(start, value + (op == ">"))
    return max(stop - start, 0) / max(high - low, 1)


def _joined_rows(left_rows: int, left_distinct: dict[str, int], right_rows: int,
                 right_distinct: dict[str, int], equi: Sequence[tuple[exp.Expr, exp.Expr]]
                 ) -> int:
    """Estimated rows of an inner equi-join: left x right / the larger distinct count of the
    first key pair whose columns have estimates (each at most its side's rows): a fact
    table joined to a filtered dimension keeps the dimension's share of its rows."""
    for a, b in equi:
        if not (isinstance(a, exp.Column) and isinstance(b, exp.Column)):
            continue
        da, db = left_distinct.get(column_key(a)), right_distinct.get(column_key(b))
        if da and db:
            larger = max(min(da, left_rows), min(db, right_rows), 1)
            return max(left_rows * right_rows // larger, 1)
    return max(left_rows, right_rows)


def _join_rows(left: int, right: int, how: str, keyed: bool) -> int:
    if not keyed:
        return left * right
    return {"inner": max(left, right), "left": left, "right": right}.get(how, left + right)

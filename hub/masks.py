"""A policy :class:`~hub.policy.Decision` applied to one DataFrame partition, on the workers.

Partition functions for ``map_partitions`` over pandas or cuDF: they use only operations
both have (``.str.slice``, ``.dt.dayofyear``, ``where``/``mask``, boolean selection) and the
kernels, which run where the data lives. The masks (see :data:`hub.policy.MASKS`):

- ``partial``: a resident ID keeps its 6-digit division and its last 4 characters,
  ``110105********002X`` (of the ID as the kernels normalise it); an ID that does not
  validate is all ``*``;
- ``pseudonym``: the 18-character ID of a keyed pseudonym (:mod:`kernels.pseudonym`),
  itself a valid ID, so masked columns still join; null where the ID does not validate;
- ``null``: every value null (pandas turns a numpy integer column into float NaN);
- ``birth_year``, ``death_year``: a date (``datetime64``) becomes 1 January of its year,
  still a date, so age arithmetic still runs, to the year;
- ``surname``: the first character of a name, which is the surname of most Chinese names;
  a compound surname (欧阳, 司马) keeps only its first character.

Nulls stay null under every mask.

An aggregate grant's job (see :mod:`hub.policy`) is not masked but suppressed:
:func:`suppress_small_cells` leaves out the cells of a roll-up that count fewer than
``min_cell`` people, together with every cell whose value could be worked out from them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from compute.jobs.rollup import LEVELS
from hub.exceptions import AccessDenied
from hub.policy import Decision
from kernels.normalise import normalise_resident_id
from kernels.pseudonym import pseudonymise_keys
from kernels.resident_id import pack_resident_id, unpack_resident_id

# What a partial mask keeps of a resident ID: the division code and the last 4 characters.
KEPT_HEAD = 6
KEPT_TAIL = 4
ID_LENGTH = 18
HIDDEN = "*" * (ID_LENGTH - KEPT_HEAD - KEPT_TAIL)
SECONDS_PER_DAY = 86_400


def apply_decision(frame: Any, decision: Decision, pseudonym_key: bytes | None = None) -> Any:
    """``frame`` as ``decision`` lets its caller see it: rows in scope, readable columns, masked.

    ``pseudonym_key`` is the purpose's key (``kernels.pseudonym.purpose_key``), needed when
    a column's mask is ``pseudonym``. Raises :class:`~hub.exceptions.AccessDenied` for a denial.
    """
    if not decision.allowed:
        raise AccessDenied(decision.reason)
    frame = scope_rows(frame, decision)[list(decision.columns)]
    masked = {
        column: mask_column(frame[column], kind, pseudonym_key)
        for column, kind in decision.masks.items()
        if kind != "none"
    }
    return frame.assign(**masked) if masked else frame


def mask_column(values: Any, kind: str, pseudonym_key: bytes | None = None) -> Any:
    """``values`` (a pandas or cuDF Series) under the mask ``kind``, same index and name."""
    if kind == "none":
        return values
    if kind == "null":
        return values.mask(values.notna() | values.isna())
    if kind == "partial":
        return partial_resident_id(values)
    if kind == "pseudonym":
        if pseudonym_key is None:
            raise ValueError("a pseudonym mask needs the purpose's pseudonym key")
        return pseudonymous_resident_id(values, pseudonym_key)
    if kind in ("birth_year", "death_year"):
        return year_start(values)
    if kind == "surname":
        return values.str.slice(0, 1)
    raise ValueError(f"unknown mask {kind!r}")


def partial_resident_id(values: Any) -> Any:
    """Resident IDs as ``110105********002X``; all ``*`` where the ID does not validate.

    The characters kept are the normalised ID's (as the kernels read it: upper-case X, no
    surrounding space), so odd spacing cannot shift other digits into view.
    """
    canonical = _aligned(unpack_resident_id(_packed(values)), values)
    tail = canonical.str.slice(ID_LENGTH - KEPT_TAIL, ID_LENGTH)
    kept = canonical.str.slice(0, KEPT_HEAD) + HIDDEN + tail
    return kept.where(canonical.notna(), "*" * ID_LENGTH).mask(values.isna())


def pseudonymous_resident_id(values: Any, key: bytes) -> Any:
    """The 18-character pseudonym of each resident ID under ``key``; null if not valid."""
    return _aligned(unpack_resident_id(pseudonymise_keys(_packed(values), key)), values)


def year_start(values: Any) -> Any:
    """Each date (``datetime64``) moved back to 1 January of its year."""
    # Filled first, so the day of year is an integer (pandas makes NaT's a float NaN); int64
    # before multiplying, as cuDF's day of year is an int16.
    filled = values.fillna(np.datetime64(0, "s"))
    day = filled.dt.dayofyear.astype("int64")
    past = ((day - 1) * SECONDS_PER_DAY).astype("timedelta64[s]")
    return (filled - past).mask(values.isna())


def suppress_small_cells(frame: pd.DataFrame, count: str, keys: tuple[str, ...] | list[str],
                         min_cell: int) -> pd.DataFrame:
    """The cells of a roll-up (rollup's ``level``, ``division_code``, ``keys``, ``count``)
    that may be published when no cell may count fewer than ``min_cell``; the rest left out.

    Primary suppression alone is not enough up a hierarchy: a prefecture's total less its
    published counties gives the one county left out. So, top down, for each combination of
    ``keys`` (a sex and age band), a nation cell is published when it counts ``min_cell`` or
    more, and the children of a published cell (its provinces; a province's prefectures; a
    prefecture's counties) are published *all together*, when every one of them counts
    ``min_cell`` or more, or not at all; a suppressed cell's children are suppressed too.
    Every published total then equals the sum of its published children, or none of them is
    published: no subtraction of published cells gives a suppressed one, and a group left out
    has two or more non-empty cells (one alone would equal its published parent). Cells left
    out are dropped, as empty ones are, so a reader cannot tell a suppressed cell from an
    empty one. Row order and types are kept. A pandas partition (the cells of a roll-up
    are few; the service hands them over as pandas).
    """
    if min_cell < 1:
        raise ValueError(f"min_cell must be positive, not {min_cell}")
    frame = frame.reset_index(drop=True)
    keys = list(keys)
    levels = list(LEVELS)  # bottom up: county, prefecture, province, nation
    published = pd.Series(False, index=frame.index)
    top = frame["level"] == levels[-1]
    published[top] = frame.loc[top, count] >= min_cell
    for child, parent in zip(levels[-2::-1], levels[:0:-1], strict=True):
        rows = frame[frame["level"] == child]
        if rows.empty:
            continue
        parents = frame.loc[frame["level"] == parent, ["division_code", *keys]].assign(
            _published=published[frame["level"] == parent])
        cells = rows[["division_code", *keys]].assign(
            _parent=LEVELS[parent](rows["division_code"]).to_numpy(),
            _big=(rows[count] >= min_cell).to_numpy())
        # Every child of the same parent cell large enough, the parent published.
        cells["_all_big"] = cells.groupby(["_parent", *keys], dropna=False)["_big"].transform(
            "all")
        found = cells.merge(parents.rename(columns={"division_code": "_parent"}),
                            on=["_parent", *keys], how="left")
        keep = found["_all_big"].to_numpy() & found["_published"].fillna(False).to_numpy(
            dtype=bool)
        published[rows.index] = keep
    return frame[published.to_numpy()].reset_index(drop=True)


def scope_rows(frame: Any, decision: Decision) -> Any:
    """The rows of ``frame`` in the decision's province (all when it sets none).

    By division code: ``code // 10000 == province``. By resident ID: the first two characters
    of the ID as the kernels normalise it (surrounding whitespace removed, full-width digits
    read as ASCII) are the province's two digits; an ID that is invalid otherwise (a wrong
    check character) stays in its province's scope, one that starts otherwise is out.
    A null is out of scope.
    """
    province = decision.scope_province
    if province is None:
        return frame
    if not (len(province) == 2 and province.isascii() and province.isdigit()):
        raise ValueError(f"not a two-digit province code: {province!r}")
    if decision.scope_column is None:
        raise ValueError(f"table {decision.table!r}: a row scope needs a column to scope by")
    values = frame[decision.scope_column]
    if decision.scope_element == "division_code":
        inside = values // 10_000 == int(province)
    elif decision.scope_element == "resident_id":
        inside = _aligned(normalise_resident_id(values), values).str.slice(0, 2) == province
    else:
        raise ValueError(f"cannot scope rows by element {decision.scope_element!r}")
    return frame[inside.fillna(False).astype(bool)]


def _packed(values: Any) -> Any:
    """The packed keys of resident IDs (-1 where not valid), aligned with ``values``."""
    return _aligned(pack_resident_id(values), values)


def _aligned(result: Any, like: Any) -> Any:
    """``result`` with the index and name of ``like`` (cuDF kernel results have a fresh one)."""
    result.index = like.index
    return result.rename(like.name)

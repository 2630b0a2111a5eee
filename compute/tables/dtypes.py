"""The engine's uniform column dtypes, decided on a Dask DataFrame's meta (nothing computed).

- strings (Arrow ``string`` / ``large_string`` / ``string_view``, NA-strings): pandas 3 ``str``;
- date32 / date64: ``datetime64[s]``, through an Arrow timestamp (no Python date objects);
- decimal128 / decimal256: ``float64``, the double nearest each value (:func:`exact_doubles`);
- timestamps: ``datetime64[unit]``, time-zone aware where the stored type has a zone.

Everything else is left as read. cuDF reads strings, dates and timestamps in these dtypes
already; its decimal dtypes are cast to float64 on the device (libcudf converts a decimal to
the nearest double).
"""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
DATE_DTYPE = "datetime64[s]"


def engine_dtypes(frame: dd.DataFrame) -> dd.DataFrame:
    """``frame`` with every column in the engine's dtype (see the module docstring)."""
    via_arrow, direct, decimals = {}, {}, []
    for name, dtype in frame.dtypes.items():
        arrow = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
        if arrow is not None and pa.types.is_date(arrow):
            # date -> timestamp[s] in Arrow, then a zero-copy view; astype straight to
            # datetime64 goes through Python date objects (~1 s per million rows).
            via_arrow[name] = pd.ArrowDtype(pa.timestamp("s"))
            direct[name] = DATE_DTYPE
        elif arrow is not None and pa.types.is_decimal(arrow):
            decimals.append(name)
        elif arrow is not None and pa.types.is_timestamp(arrow):
            unit = arrow.unit if arrow.unit in ("s", "ms", "us", "ns") else "ns"
            direct[name] = pd.DatetimeTZDtype(unit, arrow.tz) if arrow.tz else f"datetime64[{unit}]"
        elif _is_string(arrow) or (isinstance(dtype, pd.StringDtype) and dtype != STRING_DTYPE):
            direct[name] = STRING_DTYPE
        elif arrow is None and hasattr(dtype, "precision") and hasattr(dtype, "scale"):
            direct[name] = "float64"  # cuDF's Decimal32Dtype, Decimal64Dtype, Decimal128Dtype
    if decimals:
        frame = frame.map_partitions(_decimals_as_doubles, decimals, meta=_decimals_as_doubles(
            frame._meta, decimals))
    if via_arrow:
        frame = frame.astype(via_arrow)
    return frame.astype(direct) if direct else frame


def _decimals_as_doubles(part: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return part.assign(**{name: pd.Series(exact_doubles(pa.array(part[name])), part.index)
                          for name in columns})


def exact_doubles(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Decimals as the doubles nearest them, NaN for NULL.

    Arrow's cast to float64 multiplies by a power of ten and may land a unit in the last place
    off: 24710.35 became 24710.350000000002, which ``= 24710.35`` did not find. A decimal of
    up to 18 digits is its unscaled integer (the low word of its 128 bits) divided by
    ``10 ** scale``, one correctly rounded division where the integer is exact as a double
    (below 2**53); other values are read back from their text, also correctly rounded.
    """
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    kind = array.type
    if pa.types.is_decimal128(kind) and kind.precision <= 18:
        words = np.frombuffer(array.buffers()[1], dtype=np.int64,
                              count=2 * (array.offset + len(array)))[2 * array.offset::2]
        doubles = words / 10.0 ** kind.scale
        # of up to 15 digits every one is below 2**53
        inexact = np.abs(words) >= 2**53 if kind.precision > 15 else None
    else:
        doubles = np.empty(len(array))
        inexact = np.ones(len(array), dtype=bool)
    if inexact is not None and inexact.any():
        doubles[inexact] = pc.cast(pc.cast(array.filter(pa.array(inexact)), pa.string()),
                                   pa.float64()).to_numpy(zero_copy_only=False)
    if array.null_count:
        doubles[array.is_null().to_numpy(zero_copy_only=False)] = np.nan
    return doubles


def _is_string(arrow: pa.DataType | None) -> bool:
    return arrow is not None and (
        pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
        or pa.types.is_string_view(arrow)
    )

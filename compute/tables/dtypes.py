"""The engine's uniform column dtypes, decided on a Dask DataFrame's meta (nothing computed).

- strings (Arrow ``string`` / ``large_string`` / ``string_view``, NA-strings): pandas 3 ``str``;
- date32 / date64: ``datetime64[s]``, through an Arrow timestamp (no Python date objects);
- decimal128 / decimal256: ``float64``;
- timestamps: ``datetime64[unit]``, time-zone aware where the stored type has a zone.

Everything else is left as read. cuDF reads these types natively, so its meta needs nothing.
"""

from __future__ import annotations

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa

STRING_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)
DATE_DTYPE = "datetime64[s]"


def engine_dtypes(frame: dd.DataFrame) -> dd.DataFrame:
    """``frame`` with every column in the engine's dtype (see the module docstring)."""
    via_arrow, direct = {}, {}
    for name, dtype in frame.dtypes.items():
        arrow = dtype.pyarrow_dtype if isinstance(dtype, pd.ArrowDtype) else None
        if arrow is not None and pa.types.is_date(arrow):
            # date -> timestamp[s] in Arrow, then a zero-copy view; astype straight to
            # datetime64 goes through Python date objects (~1 s per million rows).
            via_arrow[name] = pd.ArrowDtype(pa.timestamp("s"))
            direct[name] = DATE_DTYPE
        elif arrow is not None and pa.types.is_decimal(arrow):
            via_arrow[name] = pd.ArrowDtype(pa.float64())
            direct[name] = "float64"
        elif arrow is not None and pa.types.is_timestamp(arrow):
            unit = arrow.unit if arrow.unit in ("s", "ms", "us", "ns") else "ns"
            direct[name] = pd.DatetimeTZDtype(unit, arrow.tz) if arrow.tz else f"datetime64[{unit}]"
        elif _is_string(arrow) or (isinstance(dtype, pd.StringDtype) and dtype != STRING_DTYPE):
            direct[name] = STRING_DTYPE
    if via_arrow:
        frame = frame.astype(via_arrow)
    return frame.astype(direct) if direct else frame


def _is_string(arrow: pa.DataType | None) -> bool:
    return arrow is not None and (
        pa.types.is_string(arrow) or pa.types.is_large_string(arrow)
        or pa.types.is_string_view(arrow)
    )

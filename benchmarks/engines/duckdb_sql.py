"""DuckDB: the four jobs as SQL over the Parquet files, by the reference implementation.

The SQL lives in :mod:`benchmarks.reference`, shared with the job tests; this engine opens a
connection on the data directory and runs it.
"""

from __future__ import annotations

import pandas as pd

from benchmarks import reference
from benchmarks.engines._common import verify_sources
from benchmarks.engines.base import Engine, Outputs


class DuckDBEngine(Engine):
    name = "duckdb"

    def __init__(self, data, workers: int, threads: int) -> None:
        super().__init__(data, workers, threads)
        self.con = reference.connect(threads=threads)
        reference.attach(self.con, self.data, reference.TABLES)

    def sql(self, query: str, **params: object) -> pd.DataFrame:
        return self.con.execute(query, params).df()

    def close(self) -> None:
        self.con.close()

    def verify(self, params) -> Outputs:
        extra = tuple(s for s in verify_sources(params) if s not in reference.TABLES)
        reference.attach(self.con, self.data, extra)
        return reference.verify(self.con, params)

    def eligibility(self, params) -> Outputs:
        return reference.eligibility(self.con, params)

    def integrity(self, params) -> Outputs:
        return reference.integrity(self.con, params)

    def rollup(self, params) -> Outputs:
        return reference.rollup(self.con, params)

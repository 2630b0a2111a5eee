"""Generate every table of the contract: plan chunks, run them in-process or on a cluster."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client
from tqdm import tqdm

from compute.exceptions import ParameterError
from compute.generate.chunk import TRUTH_DIR, ChunkSpec, generate_chunk
from compute.generate.layout import build_layout, plan_chunks
from compute.generate.rates import DefectRates
from compute.staging import staged_directory
from compute.tables.catalog import Catalog
from compute.tables.contract import register_contract_tables

RESIDENTS_PER_SCALE = 1_000_000
MIN_RESIDENTS = 1_000
DEFAULT_CHUNK_SIZE = 125_000


def generate(
    out: str | os.PathLike[str],
    scale: float = 1.0,
    seed: int = 0,
    rates: DefectRates | None = None,
    client: Client | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    overwrite: bool = False,
    progress: bool = False,
) -> Catalog:
    """Write every contract table under ``out`` as a Delta table, with ``out/_truth`` and the
    catalog.

    Scale 1 is 1,000,000 residents. The data depend on ``scale``, ``seed``, ``rates`` and
    ``chunk_size`` only: chunks of about ``chunk_size`` residents (at least two) run on
    ``client``'s workers, or here when it is None, each from its own seed. ``out`` appears
    only when complete; it must not exist unless ``overwrite``.
    """
    residents = round(scale * RESIDENTS_PER_SCALE) if math.isfinite(scale) else 0
    if residents < MIN_RESIDENTS:
        raise ParameterError(
            f"scale must give at least {MIN_RESIDENTS:,} residents "
            f"(scale >= {MIN_RESIDENTS / RESIDENTS_PER_SCALE}), not {scale!r}"
        )
    if seed < 0:
        raise ParameterError(f"seed must be a non-negative integer, not {seed!r}")
    if chunk_size < MIN_RESIDENTS:
        raise ParameterError(f"chunk_size must be at least {MIN_RESIDENTS:,}, not {chunk_size!r}")
    rates = rates or DefectRates()

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,)))
    layout = build_layout(rng)
    counts = rng.multinomial(residents, layout.county_weights / layout.county_weights.sum())
    chunk_of = plan_chunks(counts, min(chunk_size, math.ceil(residents / 2)))
    specs = [
        ChunkSpec(
            index=index,
            seed=np.random.SeedSequence(seed, spawn_key=(1, index)),
            county_codes=layout.county_codes[chunk_of == index],
            county_counts=counts[chunk_of == index],
            county_wage=layout.county_wage[chunk_of == index],
            rates=rates,
        )
        for index in range(int(chunk_of.max()) + 1)
    ]
    with staged_directory(out, overwrite=overwrite) as staging:
        (staging / "divisions").mkdir()
        pq.write_table(layout.divisions, staging / "divisions" / "part-00000.parquet")
        _run_chunks(specs, staging, client, progress)
        # Each table becomes a Delta table (version 0) registered with its elements.
        register_contract_tables(Catalog.create(staging))
    return Catalog.load(out)


def _run_chunks(specs: list[ChunkSpec], out: Path, client: Client | None, progress: bool) -> None:
    if client is None:
        for spec in tqdm(specs, desc="generate", unit="chunk", disable=not progress):
            generate_chunk(spec, out)
        return
    # Workers write straight into the staging directory: it must be on a shared filesystem.
    futures = client.map(
        generate_chunk, specs, out=out, key=[f"generate-chunk-{s.index}" for s in specs]
    )
    if progress:
        from distributed import progress as show_progress

        show_progress(futures)
    client.gather(futures)


def read_truth(data: str | os.PathLike[str]) -> pd.DataFrame:
    """The ground truth of generated data: one row (table, key, kind) per planted defect."""
    return pq.read_table(Path(data) / TRUTH_DIR).to_pandas()

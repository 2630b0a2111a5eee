"""``govgrid demo``: generate a small dataset once, run the four jobs, print what they found."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from compute.cli import add_cluster_arguments, cluster_from_args

DEMO_SCALE = 0.05
DEMO_SEED = 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the four jobs on a small synthetic dataset (made once, then cached)"
    )
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="where the demo data lives (default: a cache directory)")
    add_cluster_arguments(parser)
    parser.set_defaults(run=run)


def default_data_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "govgrid" / f"demo-scale{DEMO_SCALE}-seed{DEMO_SEED}"


def run(args: argparse.Namespace) -> int:
    from compute.generate import generate
    from compute.jobs import JOBS
    from compute.session import Session
    from compute.tables import Catalog

    data = Path(args.data) if args.data else default_data_dir()
    with cluster_from_args(args) as handle:
        print(handle.info().render(), "\n", flush=True)
        if not data.exists():
            print(f"generating scale {DEMO_SCALE} into {data} ...", flush=True)
            started = time.perf_counter()
            generate(data, scale=DEMO_SCALE, seed=DEMO_SEED, client=handle.client)
            print(f"generated in {time.perf_counter() - started:.1f} s\n")
        session = Session(Catalog.load(data), handle)
        timings = {}
        for name, spec in JOBS.items():
            result = session.run(spec.build(session))
            timings[name] = result.wall_time
            print(result.summary())
            for output, frame in result.outputs.items():
                print(f"\n{output} ({len(frame):,} rows)")
                print(frame.head(5).to_string(index=False))
            print()
    print("job          wall time")
    for name, seconds in timings.items():
        print(f"{name:<12} {seconds:8.2f} s")
    return 0

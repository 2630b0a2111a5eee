"""Micro-benchmark of the kernels on one CPU core: ``python -m benchmarks.kernels [--rows N]``.

(a) validate + pack of resident IDs (the fused kernel, validation alone, the public function),
    against memory-copy bandwidth, python-stdnum per row and a pandas ``.str`` version;
(b) Jaro-Winkler over pairs of Chinese names, beside rapidfuzz's ``cpdist`` (one worker).

Inputs are built and held in memory before any timing; each measurement discards a warm-up
run (numba compiles there) and reports the median of ``--repeats``. ``--json PATH`` appends
one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from kernels import jaro_winkler, pack_resident_id, resident_id, unpack_resident_id
from kernels._buffers import arrow_buffers

PROVINCES = np.array([11, 13, 32, 33, 37, 41, 44, 51, 65, 81])
SURNAMES = [*"王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗", "欧阳", "司马", "诸葛"]
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英")
COPY_BYTES = 1 << 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options: declared here for its own parser and for `govgrid bench
    kernels`, which passes them on with :func:`as_argv`."""
    parser.add_argument("--rows", type=int, default=10_000_000, help="IDs (default 10M)")
    parser.add_argument("--pairs", type=int, default=None, help="name pairs (default --rows)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (median, default 3)")
    parser.add_argument("--sample", type=int, default=200_000,
                        help="rows timed for stdnum and pandas, extrapolated (default 200000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def as_argv(args: argparse.Namespace) -> list[str]:
    """The command-line options that give :func:`add_arguments`'s values in ``args``."""
    options = argparse.ArgumentParser(add_help=False)
    add_arguments(options)
    argv = []
    for action in options._actions:
        value = getattr(args, action.dest)
        if value is not None:
            argv += [action.option_strings[0], str(value)]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.kernels", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--json", metavar="PATH", help="append one JSON line per measurement")
    args = parser.parse_args(argv)
    pairs = args.pairs or args.rows
    core = _pin_one_core()

    rng = np.random.default_rng(args.seed)
    ids = _resident_ids(args.rows, rng)
    sample = pd.Series(ids.slice(0, min(args.sample, args.rows)), dtype="str")
    names_a, names_b = _name_pairs(pairs, rng)
    names_a_list, names_b_list = names_a.to_pylist(), names_b.to_pylist()

    params = {
        "rows": args.rows, "pairs": pairs, "repeats": args.repeats, "sample": len(sample),
        "core": core, "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(), "numba threads": os.environ.get(
            "NUMBA_NUM_THREADS", "(kernels are not parallel)"),
        "input bytes per ID": round(_input_bytes(ids) / args.rows, 2),
    }
    _table("parameter", params)

    results: list[tuple[str, float, str]] = []
    copy_rate = COPY_BYTES / _median(_copy(COPY_BYTES), args.repeats)
    results.append(("memory copy (numpy, bytes copied)", copy_rate / 1e9, "GB/s"))

    buffers = arrow_buffers(ids)
    fused = _median(lambda: resident_id.validate_and_pack(buffers), args.repeats)
    codes_only = _median(lambda: resident_id.validate(buffers), args.repeats)
    public = _median(lambda: pack_resident_id(ids), args.repeats)
    rate = args.rows / fused
    results += [
        ("validate+pack, fused kernel", rate / 1e6, "M IDs/s/core"),
        ("validate+pack, input bytes", _input_bytes(ids) / fused / 1e9, "GB/s"),
        ("validate+pack vs memory copy", _input_bytes(ids) / fused / copy_rate, "x"),
        ("validate only (codes, no keys), kernel", args.rows / codes_only / 1e6, "M IDs/s/core"),
        ("pack_resident_id (public)", args.rows / public / 1e6, "M IDs/s/core"),
    ]
    stdnum_rate = len(sample) / _median(lambda: _stdnum(sample), 1)
    pandas_rate = len(sample) / _median(lambda: _pandas_validate_pack(sample), 1)
    results += [
        ("python-stdnum is_valid, per row", stdnum_rate / 1e6, "M IDs/s"),
        ("speed-up over python-stdnum", rate / stdnum_rate, "x"),
        ("pandas .str validate+pack", pandas_rate / 1e6, "M IDs/s"),
        ("speed-up over pandas .str", rate / pandas_rate, "x"),
        ("unpack_resident_id", args.rows / _median(
            lambda: unpack_resident_id(np.arange(args.rows, dtype=np.int64)), args.repeats
        ) / 1e6, "M IDs/s/core"),
    ]

    ours = _median(lambda: jaro_winkler(names_a, names_b), args.repeats)
    theirs = _median(lambda: _rapidfuzz(names_a_list, names_b_list), args.repeats)
    results += [
        ("jaro_winkler, Chinese names", pairs / ours / 1e6, "M pairs/s/core"),
        ("rapidfuzz cpdist JaroWinkler, 1 worker", pairs / theirs / 1e6, "M pairs/s/core"),
        ("jaro_winkler vs rapidfuzz", theirs / ours, "x"),
    ]
    _table("measurement (median)", {name: f"{value:,.3f} {unit}" for name, value, unit in results})
    if args.json:
        _append_json(args.json, params, results)
    return 0


def _pin_one_core() -> int:
    """Run this process on one core (the last, away from most other work)."""
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def _median(run: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``repeats`` runs of ``run``, after one discarded warm-up."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _copy(size: int) -> Callable[[], Any]:
    source = np.ones(size, dtype=np.uint8)
    target = np.empty_like(source)
    return lambda: np.copyto(target, source)


def _input_bytes(ids: pa.Array) -> int:
    return sum(buffer.size for buffer in ids.buffers() if buffer is not None)


def _resident_ids(n: int, rng: np.random.Generator) -> pa.Array:
    """Realistic IDs: real-looking divisions, births 1930-2020; 1% with a wrong check."""
    division = (
        PROVINCES[rng.integers(0, len(PROVINCES), n)] * 10_000
        + rng.integers(1, 20, n) * 100 + rng.integers(1, 30, n)
    )
    first, last = np.datetime64("1930-01-01"), np.datetime64("2020-12-31")
    days = rng.integers(first.astype(int), last.astype(int), n).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    ymd = (
        (months.astype("datetime64[Y]").astype(int) + 1970) * 10_000
        + (months.astype(int) % 12 + 1) * 100 + (days - months).astype(int) + 1
    )
    keys = (division * 10**8 + ymd) * 1000 + rng.integers(0, 1000, n)
    ids = unpack_resident_id(keys)
    # Corrupt the check character of 1% of rows: its byte plus one ('9' becomes ':').
    chars = np.frombuffer(ids.buffers()[2], dtype=np.uint8).copy()
    wrong = rng.choice(n, n // 100, replace=False)
    chars[wrong * 18 + 17] += 1
    return pa.Array.from_buffers(pa.string(), n, [None, ids.buffers()[1], pa.py_buffer(chars)])


def _name_pairs(n: int, rng: np.random.Generator) -> tuple[pa.Array, pa.Array]:
    """Chinese names of 2-4 characters; the second of a pair is the first with one change
    half of the time."""
    surnames = np.array(SURNAMES, dtype=object)
    given = np.array(GIVEN, dtype=object)
    first = (
        surnames[rng.integers(0, len(surnames), n)]
        + given[rng.integers(0, len(given), n)]
        + np.where(rng.random(n) < 0.6, given[rng.integers(0, len(given), n)], "")
    )
    changed = (
        surnames[rng.integers(0, len(surnames), n)]
        + np.array([name[-2:] if len(name) > 2 else name[-1:] for name in first], dtype=object)
    )
    second = np.where(rng.random(n) < 0.5, changed, first)
    return pa.array(first, type=pa.string()), pa.array(second, type=pa.string())


def _stdnum(sample: pd.Series) -> list[bool]:
    from stdnum.cn import ric

    return [_stdnum_valid(ric, value) for value in sample]


def _stdnum_valid(ric: Any, value: str) -> bool:
    try:
        return ric.is_valid(value)
    except KeyError:  # stdnum 2.2 fails so on some division codes of its own list
        return False


def _pandas_validate_pack(values: pd.Series) -> pd.Series:
    """Validate + pack with pandas ``.str`` methods only: the reasonable vectorised version."""
    body = values.str.slice(0, 17)
    last = values.str.slice(17).str.upper()
    shape = (values.str.len() == 18) & body.str.fullmatch("[0-9]{17}") & last.str.fullmatch(
        "[0-9X]"
    )
    province = pd.to_numeric(values.str.slice(0, 2), errors="coerce")
    in_province = province.isin(list(range(11, 16)) + list(range(21, 24)) + list(range(31, 38))
                                + list(range(41, 47)) + list(range(50, 55))
                                + list(range(61, 66)) + [71, 81, 82, 83])
    birth = pd.to_datetime(values.str.slice(6, 14), format="%Y%m%d", errors="coerce")
    born = birth.notna() & (birth >= pd.Timestamp("1900-01-01"))
    total = sum(
        pd.to_numeric(values.str.get(k), errors="coerce").fillna(0).astype(np.int64) * weight
        for k, weight in enumerate(resident_id.WEIGHTS.tolist())
    )
    check = pd.Series(np.array(list(resident_id.CHECK_CHARACTERS))[total % 11], index=values.index)
    valid = (shape & in_province & born & (check == last)).fillna(False).astype(bool)
    # Parse as int64 directly: to_numeric would go through float64 and lose digits.
    return body.where(valid, "-1").astype(np.int64)


def _rapidfuzz(a: list[str], b: list[str]) -> Any:
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler

    return process.cpdist(a, b, scorer=JaroWinkler.similarity, workers=1)


def _table(title: str, rows: dict[str, Any]) -> None:
    width = max(len(title), *(len(key) for key in rows))
    print(f"{title:<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 24}")
    for key, value in rows.items():
        print(f"{key:<{width}} | {value}")
    print()


def _append_json(path: str, params: dict[str, Any], results: list[tuple[str, float, str]]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        for name, value, unit in results:
            record = {"suite": "kernels", "measurement": name, "value": value, "unit": unit,
                      "params": params, "time": time.time()}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())

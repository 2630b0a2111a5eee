"""``govgrid doctor``: versions, GPUs, and every kernel and job checked on CPU and GPU."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_SCALE = 0.005  # compute.doctor.DEFAULT_SCALE; imported only when the doctor runs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the stack and the GPUs: every kernel and job on the CPU and, where a GPU "
             "is usable, on the GPU against the CPU; one JSON report",
    )
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="write the JSON report to FILE and print a summary "
                             "(default: print the report)")
    parser.add_argument("--scale", type=float, default=DEFAULT_SCALE,
                        help=f"scale of the generated dataset (default {DEFAULT_SCALE})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when everything that ran passed, 1 otherwise."""
    from compute import doctor

    report = doctor.run(scale=args.scale)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
        print(doctor.summary(report))
        print(f"report: {args.out}")
    else:
        print(text)
    return 0 if report["passed"] else 1

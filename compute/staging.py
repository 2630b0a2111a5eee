"""Write a directory atomically: fill a temporary sibling, rename it into place when done."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from compute.exceptions import ParameterError


@contextmanager
def staged_directory(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory that becomes ``target`` when the block succeeds.

    On an exception the temporary directory is removed and ``target`` is left as it was, so
    readers never see a half-written result.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise ParameterError(f"{str(target)!r} exists; choose another path or overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            # Moved aside, not removed, until the new one is in place: at every moment
            # either the old or the new directory is at ``target`` (or, between the two
            # renames, the old one is beside it under a name that says so).
            aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(aside)
            try:
                staging.rename(target)
            except BaseException:
                aside.rename(target)
                raise
            shutil.rmtree(aside, ignore_errors=True)
        else:
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

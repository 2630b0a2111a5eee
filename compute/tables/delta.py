"""Tables as Delta Lake tables (``deltalake``, embedded): versions, history, file statistics.

Every registered table is a Delta table, so every update is a version and any version can be
read again. govgrid reads a version's Parquet files itself (with Dask), so a table feature
that changes what the files mean (deletion vectors, column mapping, partition columns, type
widening) is refused by :func:`check_readable` instead of being read wrong.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds

from compute.exceptions import DataError

LOG_DIR = "_delta_log"
# Reader features that leave the data files' meaning as it is.
HARMLESS_READER_FEATURES = frozenset({"timestampNtz", "vacuumProtocolCheck", "v2Checkpoint"})


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a table version, with the statistics the Delta log keeps."""

    path: Path
    bytes: int
    rows: int | None
    minimum: dict[str, Any]
    maximum: dict[str, Any]


@dataclass(frozen=True)
class Version:
    """One version of a table: its number, commit time, files and schema."""

    table: str
    number: int
    committed: dt.datetime
    files: tuple[DataFile, ...]
    schema: pa.Schema

    @property
    def rows(self) -> int:
        return sum(file.rows or 0 for file in self.files)

    @property
    def bytes(self) -> int:
        return sum(file.bytes for file in self.files)


def is_delta(path: Path) -> bool:
    return (path / LOG_DIR).is_dir()


def _deltalake():
    # Imported on use: the CLI registers its commands without loading the Rust library.
    import deltalake

    return deltalake


def convert(table: str, path: Path) -> None:
    """Make the Parquet directory ``path`` a Delta table in place (version 0, with statistics).

    The files stay where they are; only ``_delta_log`` is added. A directory that already is a
    Delta table is left alone.
    """
    if is_delta(path):
        return
    if not path.is_dir():
        raise DataError(f"table {table!r}: {str(path)!r} is not a directory")
    if not any(path.glob("*.parquet")):
        raise DataError(f"table {table!r}: no Parquet files in {str(path)!r}")
    try:
        _deltalake().convert_to_deltalake(str(path))
    except Exception as exc:  # the Rust library raises its own exception types
        raise DataError(f"table {table!r}: cannot make {str(path)!r} a Delta table: {exc}") \
            from exc


def open_version(
    table: str, path: Path, version: int | None = None, as_of: dt.datetime | None = None
) -> Version:
    """Version ``version`` of the table at ``path``, the one current at ``as_of``, or the
    latest; refused when the reader cannot honour one of its features."""
    deltalake = _deltalake()
    try:
        delta = deltalake.DeltaTable(str(path), version=version)
        if as_of is not None:
            delta.load_as_version(_aware(as_of))
    except Exception as exc:
        when = f" at {as_of.isoformat()}" if as_of is not None else (
            f" version {version}" if version is not None else "")
        raise DataError(f"table {table!r}: cannot open the Delta table {str(path)!r}{when}: "
                        f"{exc}") from exc
    check_readable(table, delta)
    number = delta.version()
    # After time travel delta-rs numbers history() entries from the loaded version, so the
    # commit time comes from the history of the table as it is now.
    latest = delta if version is None and as_of is None else _open(table, path)
    committed = _commit_time(latest, number)
    if as_of is not None and committed > _aware(as_of):
        # delta-rs falls back to the first version for a time before it: refuse instead.
        raise DataError(f"table {table!r} has no version at or before {as_of.isoformat()}; "
                        f"its first is from {committed.isoformat(timespec='seconds')}")
    return Version(
        table=table,
        number=number,
        committed=committed,
        files=_files(path, delta),
        schema=pa.schema(delta.schema().to_arrow()),
    )


def check_readable(table: str, delta: Any) -> None:
    """Refuse table features govgrid's reader cannot honour, naming them."""
    protocol = delta.protocol()
    features = set(protocol.reader_features or ())
    refused = sorted(features - HARMLESS_READER_FEATURES)
    if protocol.min_reader_version == 2:
        refused.append("columnMapping")
    if refused:
        raise DataError(
            f"table {table!r} uses Delta reader features govgrid cannot honour: "
            f"{', '.join(refused)}; rewrite it without them (e.g. REORG/PURGE for deletion "
            "vectors) before registering"
        )
    if delta.metadata().partition_columns:
        raise DataError(
            f"table {table!r} is partitioned by {delta.metadata().partition_columns}; "
            "govgrid reads unpartitioned Delta tables only"
        )


def _files(path: Path, delta: Any) -> tuple[DataFile, ...]:
    actions = pa.table(delta.get_add_actions(flatten=True)).to_pylist()
    files = []
    for action in actions:
        minimum = {k[4:]: v for k, v in action.items() if k.startswith("min.") and v is not None}
        maximum = {k[4:]: v for k, v in action.items() if k.startswith("max.") and v is not None}
        files.append(DataFile(
            path=path / action["path"],
            bytes=int(action["size_bytes"]),
            rows=action.get("num_records"),
            minimum=minimum,
            maximum=maximum,
        ))
    # A stable order: partitions and results do not depend on the log's order.
    return tuple(sorted(files, key=lambda file: file.path.name))


def _commit_time(delta: Any, number: int) -> dt.datetime:
    for entry in delta.history():
        if entry.get("version") == number:
            return dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.UTC)
    return dt.datetime.fromtimestamp(0, dt.UTC)


def history(table: str, path: Path) -> list[dict[str, Any]]:
    """Every version of the table, newest first: version, time, operation, rows added/total."""
    delta = _open(table, path)
    rows_by_version = {}
    entries = []
    for entry in delta.history():
        number = entry["version"]
        metrics = entry.get("operationMetrics") or {}
        parameters = entry.get("operationParameters") or {}
        if number not in rows_by_version:
            rows_by_version[number] = open_version(table, path, version=number).rows
        entries.append({
            "version": number,
            "time": dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.UTC),
            "operation": entry.get("operation", ""),
            "mode": parameters.get("mode", ""),
            "rows_added": metrics.get("num_added_rows"),
            "rows": rows_by_version[number],
        })
    return entries


def write(table: str, path: Path, data: pa.Table, mode: str) -> int:
    """Append ``data`` to the table at ``path`` or replace its rows (``mode`` "append" or
    "overwrite"): one new version, committed atomically; returns its number."""
    deltalake = _deltalake()
    try:
        deltalake.write_deltalake(str(path), data, mode=mode)
    except Exception as exc:
        raise DataError(f"table {table!r}: the {mode} was not committed: {exc}") from exc
    return _open(table, path).version()


def read_update(table: str, source: Path, schema: pa.Schema) -> pa.Table:
    """The rows of Parquet file or directory ``source``, cast to the table's ``schema``.

    A missing column or a type that does not cast is a DataError naming it and the file.
    """
    try:
        data = ds.dataset(str(source), format="parquet").to_table()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"table {table!r}: cannot read update {str(source)!r}: {exc}") from exc
    missing = [name for name in schema.names if name not in data.column_names]
    if missing:
        raise DataError(f"table {table!r}: update {str(source)!r} lacks columns {missing}")
    extra = [name for name in data.column_names if name not in schema.names]
    if extra:
        raise DataError(f"table {table!r}: update {str(source)!r} has columns the table has "
                        f"not: {extra}")
    columns = []
    for field in schema:
        try:
            columns.append(data[field.name].cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"table {table!r}: update {str(source)!r}: column {field.name!r} "
                f"({data.schema.field(field.name).type}) does not cast to {field.type}: {exc}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=schema)


def _open(table: str, path: Path) -> Any:
    try:
        return _deltalake().DeltaTable(str(path))
    except Exception as exc:
        raise DataError(f"table {table!r}: cannot open the Delta table {str(path)!r}: {exc}") \
            from exc


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.astimezone()

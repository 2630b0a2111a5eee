"""The audit log's writer: one hash-chained entry per request, written before any result leaves.

Format (the only thing the writer shares with :mod:`hub.audit_verify`, which re-implements it
independently so that a bug here cannot hide a break there, as X-Road's verifier does):

- ``AUDIT_DIR`` holds segment files ``audit-<first sequence, 12 digits>.jsonl``; each opening of
  the log starts a new segment. A line is one record, a JSON object in canonical encoding
  (UTF-8, keys sorted, no spaces, no NaN) followed by ``\\n``.
- Every record has ``seq`` (1, 2, 3 ... across all segments), ``type``, ``time`` (UTC, ISO 8601),
  ``prev`` (the previous record's ``hash``; 64 zeros for the first) and ``hash``: SHA-256, hex,
  of the canonical encoding of the record without ``hash``.
- ``type: "entry"`` records carry ``entry``, the request's fields (:data:`ENTRY_FIELDS`).
- ``type: "checkpoint"`` records carry ``signature``: Ed25519, base64, over the canonical
  encoding of ``{seq, type, time, prev}``, so it signs the whole chain before it.

Checkpoints are written after every ``checkpoint_every`` entries (default 1, so no result ever
leaves on an unsigned entry) and on :meth:`AuditLog.close`; every segment ends with one.

What verification detects: any edited byte (the hash; with a recomputed hash, the next
record's ``prev`` or the checkpoint's signature); a deleted or reordered record or segment
(``seq`` and ``prev``); a torn last line; entries after the last checkpoint (appended without
the key, or a truncation that removed the closing checkpoint); a forged checkpoint. What it
cannot detect from the log alone: removal of whole records from the end back to a checkpoint,
or of whole trailing segments, since what remains is a valid shorter log. Keep the latest
receipt's sequence elsewhere and pass it as ``at_least`` to catch that. Whoever holds the
signing key can rewrite the log; keep it apart from the data.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.audit_verify import verify_log
from hub.exceptions import AuditError

SEGMENT = "audit-{:012d}.jsonl"
DECISIONS = ("allow", "deny")
# What an entry may hold; `decision` is required. Names of tables and columns, never values.
ENTRY_FIELDS = frozenset({
    "user", "department", "token_id", "purpose",
    "grants",             # the grants the decision used
    "query_fingerprint",  # a hash of the normalised query, never its text
    "tables",             # {table: {"projected": [columns], "filter_only": [columns]}}
    "masks", "scopes",    # masks and row scopes applied
    "decision", "reason",
    "rows", "bytes", "result_hash",
    "versions",           # {table: version read}
})
# 17 digits and a check character, standing alone: the shape of a raw GB 11643 resident ID.
RAW_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


@dataclass(frozen=True)
class AuditReceipt:
    """Where an entry was written: its sequence number, hash and segment file."""

    seq: int
    hash: str
    file: Path


def reject_raw_ids(entry: Mapping[str, Any]) -> None:
    """Raise :class:`AuditError` naming the field if any key or value looks like a raw resident ID.

    Defence in depth: callers log pseudonyms and fingerprints; this catches a raw ID that slipped
    through (in a reason quoting a query, say). The message names the field, never the value.
    """
    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                # The key first: a path shown in the message may include only checked keys.
                walk(key, f"a key of {where or 'the entry'}")
                walk(item, f"{where}.{key}" if where else str(key))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif isinstance(value, str | int) and RAW_ID.search(str(value)):
            raise AuditError(f"audit entry: {where} holds what looks like a raw resident ID")

    walk(entry, "")


def _canonical(record: Mapping[str, Any]) -> bytes:
    """The canonical encoding of a record (see the module docstring)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


class AuditLog:
    """An append-only, hash-chained, checkpointed audit log in ``directory``; thread-safe.

    Refuses to open a log that does not verify with ``signing_key``'s public key, or one that
    another process holds open. :meth:`record` either returns once the entry is on disk
    (fsync'ed) or raises :class:`AuditError`, and nothing else; after a failed write the log
    refuses every later entry, since the file may end in a partial line.
    """

    def __init__(self, directory: str | os.PathLike, signing_key: Ed25519PrivateKey,
                 checkpoint_every: int = 1) -> None:
        if not isinstance(signing_key, Ed25519PrivateKey):
            raise TypeError("audit checkpoints are signed with an Ed25519 private key")
        if checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be at least 1, not {checkpoint_every}")
        self.directory = Path(directory)
        self._key = signing_key
        self._checkpoint_every = checkpoint_every
        self._lock = threading.Lock()
        try:
            self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:
            raise AuditError(f"cannot open audit directory {directory}: {exc.strerror}") from exc
        try:
            # One writer per directory: a second one would fork the chain.
            try:
                fcntl.flock(self._dir_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                raise AuditError(f"audit log {directory} is in use by another writer") from exc
            report = verify_log(self.directory, signing_key.public_key())
            if not report.ok:
                raise AuditError(f"refusing to append to a broken audit log: {report}")
        except BaseException:
            os.close(self._dir_fd)
            raise
        self._seq, self._hash = report.last_seq, report.last_hash
        self._unsigned = 0
        self._file: Path | None = None
        self._fd: int | None = None
        self._failed: str | None = None

    def record(self, entry: Mapping[str, Any]) -> AuditReceipt:
        """Append ``entry`` and fsync it (and a checkpoint when one is due)."""
        if not isinstance(entry, Mapping):
            raise AuditError(f"an audit entry is a mapping, not {type(entry).__name__}")
        reject_raw_ids(entry)  # first, so that no message below can quote a raw ID
        unknown = set(entry) - ENTRY_FIELDS
        if unknown:
            raise AuditError(f"unknown audit entry fields: {', '.join(sorted(map(str, unknown)))}")
        if entry.get("decision") not in DECISIONS:
            raise AuditError(f"an audit entry's decision is one of {DECISIONS}")
        with self._lock:
            seq = self._seq + 1
            line, entry_hash = self._build(seq, self._hash, "entry", {"entry": dict(entry)})
            lines, head = [line], entry_hash
            if self._unsigned + 1 >= self._checkpoint_every:
                line, head = self._build(seq + 1, entry_hash, "checkpoint")
                lines.append(line)
            self._write(b"".join(lines))
            self._seq, self._hash = seq + len(lines) - 1, head
            self._unsigned = 0 if len(lines) == 2 else self._unsigned + 1
            return AuditReceipt(seq=seq, hash=entry_hash, file=self._file)

    def close(self) -> None:
        """Write a checkpoint if entries are unsigned, then release the log."""
        with self._lock:
            if self._dir_fd < 0:
                return
            try:
                if self._unsigned and not self._failed:
                    line, head = self._build(self._seq + 1, self._hash, "checkpoint")
                    self._write(line)
                    self._seq, self._hash, self._unsigned = self._seq + 1, head, 0
            finally:
                if self._fd is not None:
                    os.close(self._fd)
                os.close(self._dir_fd)
                self._fd, self._dir_fd = None, -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _build(self, seq: int, prev: str, kind: str,
               body: Mapping[str, Any] | None = None) -> tuple[bytes, str]:
        """A record's line and hash; a checkpoint signs everything but its hash."""
        record = {"seq": seq, "type": kind, "time": _now(), "prev": prev, **(body or {})}
        try:
            if kind == "checkpoint":
                record["signature"] = base64.b64encode(self._key.sign(_canonical(record))).decode()
            record["hash"] = hashlib.sha256(_canonical(record)).hexdigest()
            return _canonical(record) + b"\n", record["hash"]
        except (TypeError, ValueError) as exc:  # not JSON: a set, NaN, an object
            raise AuditError(f"audit entry cannot be encoded as JSON: {exc}") from exc

    def _write(self, data: bytes) -> None:
        """Append ``data`` to the current segment and fsync it; fail closed on any error."""
        if self._dir_fd < 0:
            raise AuditError("the audit log is closed")
        if self._failed:
            raise AuditError(f"the audit log stopped after a failed write: {self._failed}")
        try:
            if self._fd is None:
                self._open_segment()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as exc:
            self._failed = f"{self._file or self.directory}: {exc.strerror or exc}"
            raise AuditError(f"audit entry not written: {self._failed}") from exc

    def _open_segment(self) -> None:
        self._file = self.directory / SEGMENT.format(self._seq + 1)
        self._fd = os.open(self._file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o640)
        os.fsync(self._dir_fd)  # the new file's directory entry is durable too


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

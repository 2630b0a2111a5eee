"""The audit log's verifier: walks the chain and names the first record that breaks it.

It implements the format described in :mod:`hub.audit` on its own and imports nothing of the
writer, so that a bug in the writer cannot hide a break (X-Road's ArchiveHashChainVerifier
follows the same rule). The kinds of break, checked in this order on each line:

    truncated      a segment's last line is cut short, or the log ends before ``at_least``
    edited         not a canonical record, its hash is wrong, or (hash recomputed) the next
                   record's ``prev`` does not match it
    deleted        sequence numbers jump: records are missing before this line
    reordered      a record comes before one with a lower sequence number
    bad_signature  a checkpoint's signature does not verify with the public key
    unsigned       a segment ends with entries no checkpoint signs (appended without the key,
                   or a truncation that took the closing checkpoint)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.exceptions import AuditError

GENESIS = "0" * 64
SEGMENT = re.compile(r"audit-[0-9]{12}\.jsonl")
FIELDS = {
    "entry": {"seq", "type", "time", "prev", "entry", "hash"},
    "checkpoint": {"seq", "type", "time", "prev", "signature", "hash"},
}


@dataclass(frozen=True)
class Failure:
    """The first break: its kind, where it is, and the sequence number it concerns."""

    kind: str
    file: Path
    line: int
    seq: int | None
    detail: str

    def __str__(self) -> str:
        seq = "" if self.seq is None else f", seq {self.seq}"
        return f"{self.kind} at {self.file.name} line {self.line}{seq}: {self.detail}"


@dataclass(frozen=True)
class VerifyReport:
    """What verification found: counts of verified records, the head, and the first break."""

    entries: int
    checkpoints: int
    last_seq: int
    last_hash: str
    failure: Failure | None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def __str__(self) -> str:
        if self.failure is not None:
            return str(self.failure)
        return (f"intact: {self.entries} entries, {self.checkpoints} checkpoints, "
                f"head seq {self.last_seq} {self.last_hash}")


@dataclass(frozen=True)
class _Line:
    file: Path
    number: int
    raw: bytes
    torn: bool  # the segment's last line, without its newline
    last_of_file: bool


class _Break(Exception):
    def __init__(self, kind: str, line: _Line, seq: int | None, detail: str) -> None:
        super().__init__(detail)
        self.failure = Failure(kind, line.file, line.number, seq, detail)


def verify_log(directory: str | os.PathLike, public_key: Ed25519PublicKey,
               at_least: int = 0) -> VerifyReport:
    """Verify every segment of the audit log in ``directory`` with the checkpoint key.

    ``at_least``: a sequence number known to have been written (from a receipt kept
    elsewhere); a log that ends before it is truncated.
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("audit checkpoints are verified with an Ed25519 public key")
    directory = Path(directory)
    if not directory.is_dir():
        raise AuditError(f"no audit directory {directory}")
    lines = _read_lines(directory)
    walk = _Walk(lines, public_key)
    try:
        for index in range(len(lines)):
            walk.step(index)
        if walk.last_seq < at_least:
            end = lines[-1] if lines else _Line(directory, 0, b"", False, True)
            raise _Break("truncated", end, walk.last_seq + 1,
                         f"the log ends at seq {walk.last_seq}, but seq {at_least} was written")
    except _Break as exc:
        failure = exc.failure
    else:
        failure = None
    return VerifyReport(walk.entries, walk.checkpoints, walk.last_seq, walk.last_hash, failure)


def _read_lines(directory: Path) -> list[_Line]:
    lines = []
    for path in sorted(p for p in directory.iterdir() if SEGMENT.fullmatch(p.name)):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AuditError(f"cannot read {path}: {exc.strerror}") from exc
        pieces = data.split(b"\n")
        # An empty segment is a truncated one: every segment ends with a checkpoint.
        torn = pieces[-1] != b"" or data == b""
        if not torn:
            pieces.pop()
        lines += [_Line(path, number, raw, torn and number == len(pieces),
                        number == len(pieces)) for number, raw in enumerate(pieces, 1)]
    return lines


def _canonical(value: Any) -> bytes:
    # The format's canonical encoding, written again on purpose rather than imported.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


class _Walk:
    """The chain's state while walking the lines in order."""

    def __init__(self, lines: list[_Line], public_key: Ed25519PublicKey) -> None:
        self.lines, self.key = lines, public_key
        self.first_at: dict[int, int] = {}  # seq -> index of the first line that claims it
        for index, line in enumerate(lines):
            seq = _claimed_seq(line.raw)
            if seq is not None:
                self.first_at.setdefault(seq, index)
        self.entries = self.checkpoints = self.last_seq = 0
        self.last_hash = GENESIS
        self.first_unsigned: int | None = None

    def step(self, index: int) -> None:
        line, expected = self.lines[index], self.last_seq + 1
        if line.torn:
            raise _Break("truncated", line, expected, "the line is cut short")
        record = self._record(line)
        seq = record["seq"]
        if seq != expected:
            if seq > expected and self.first_at.get(expected, -1) > index:
                raise _Break("reordered", line, seq, f"comes before seq {expected}")
            if seq > expected:
                missing = f"seq {expected}" + ("" if seq == expected + 1 else f" to {seq - 1}")
                raise _Break("deleted", line, expected, f"{missing} missing before this line")
            raise _Break("reordered", line, seq, f"comes after seq {self.last_seq}")
        if record["prev"] != self.last_hash:
            if index == 0:
                raise _Break("edited", line, seq, "the first record does not start the chain")
            raise _Break("edited", self.lines[index - 1], seq - 1,
                         "its hash was recomputed: the next record's prev does not match it")
        if record["type"] == "checkpoint":
            self._check_signature(line, record)
            self.checkpoints += 1
            self.first_unsigned = None
        else:
            self.entries += 1
            if self.first_unsigned is None:
                self.first_unsigned = index
        self.last_seq, self.last_hash = seq, record["hash"]
        if line.last_of_file and self.first_unsigned is not None:
            first = self.lines[self.first_unsigned]
            raise _Break("unsigned", first, _claimed_seq(first.raw),
                         "no checkpoint signs this entry or the ones after it")

    @staticmethod
    def _record(line: _Line) -> dict[str, Any]:
        try:
            record = json.loads(line.raw)
            canonical = _canonical(record)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _Break("edited", line, None, f"not a JSON record: {exc}") from exc
        seq = record.get("seq") if isinstance(record, dict) else None
        seq = seq if type(seq) is int else None
        if (seq is None or canonical != line.raw or record.get("type") not in FIELDS
                or set(record) != FIELDS[record["type"]]
                or not isinstance(record.get("entry", {}), dict)
                or not all(isinstance(record[k], str) for k in ("time", "prev", "hash"))):
            raise _Break("edited", line, seq, "not a record in the audit format")
        body = {k: v for k, v in record.items() if k != "hash"}
        if hashlib.sha256(_canonical(body)).hexdigest() != record["hash"]:
            raise _Break("edited", line, seq, "its hash does not match its content")
        return record

    def _check_signature(self, line: _Line, record: dict[str, Any]) -> None:
        signed = {k: v for k, v in record.items() if k not in ("signature", "hash")}
        try:
            signature = base64.b64decode(record["signature"], validate=True)
            self.key.verify(signature, _canonical(signed))
        except (InvalidSignature, binascii.Error, TypeError, ValueError) as exc:
            raise _Break("bad_signature", line, record["seq"],
                         "the checkpoint's signature does not verify") from exc


def _claimed_seq(raw: bytes) -> int | None:
    """The sequence number a line claims, whatever else is wrong with it."""
    try:
        seq = json.loads(raw).get("seq")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None
    return seq if type(seq) is int else None

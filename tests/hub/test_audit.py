"""The audit log: every way of tampering with it is found at the right record."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import shutil
import threading
from pathlib import Path

import pytest

from compute.cli import main
from hub.audit import AuditLog, reject_raw_ids
from hub.audit_verify import verify_log
from hub.exceptions import AuditError
from hub.identity import generate_key, write_key_pair

KEY = generate_key()
PUBLIC = KEY.public_key()
RESIDENT_ID = "11010519491231002X"


def request(n: int, decision: str = "allow") -> dict:
    """A realistic entry: names and fingerprints, never a raw identifier."""
    return {
        "user": "wang.li", "department": "civil affairs", "token_id": f"tok-{n % 3}",
        "purpose": "dibao-review", "grants": ["civil-affairs-dibao"],
        "query_fingerprint": hashlib.sha256(f"q{n}".encode()).hexdigest(),
        "tables": {"residents": {"projected": ["name"], "filter_only": ["division_code"]}},
        "masks": {"residents.resident_id": "pseudonym"}, "scopes": {"residents": "11"},
        "decision": decision, "reason": "granted" if decision == "allow" else "no grant",
        "rows": n, "bytes": 100 * n, "result_hash": hashlib.sha256(b"r").hexdigest(),
        "versions": {"residents": 3},
    }


def write_log(directory: Path, entries: int = 50, checkpoint_every: int = 1) -> Path:
    directory.mkdir(exist_ok=True)
    with AuditLog(directory, KEY, checkpoint_every=checkpoint_every) as log:
        for n in range(entries):
            log.record(request(n, "deny" if n % 7 == 0 else "allow"))
    return log.directory


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-*.jsonl"))


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, records: list[dict]) -> None:
    path.write_text("".join(encode(r) + "\n" for r in records))


def encode(record: dict) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rehash(record: dict) -> dict:
    """What a forger does after an edit: recompute the record's own hash."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return {**body, "hash": hashlib.sha256(encode(body).encode()).hexdigest()}


def line_of(records: list[dict], seq: int) -> int:
    return next(n for n, r in enumerate(records, 1) if r["seq"] == seq)


def failure(directory: Path, at_least: int = 0):
    report = verify_log(directory, PUBLIC, at_least=at_least)
    assert not report.ok
    return report.failure


@pytest.fixture(params=[1, 10], ids=["checkpoint-every-entry", "checkpoint-every-10"])
def log(request, tmp_path) -> Path:
    """A log of 50 entries in one segment, checkpointed every entry or every 10."""
    return write_log(tmp_path / "audit", checkpoint_every=request.param)


def test_an_intact_log_verifies_across_segments(tmp_path):
    directory = write_log(tmp_path / "audit", entries=30)
    write_log(directory, entries=20, checkpoint_every=7)
    report = verify_log(directory, PUBLIC)
    assert report.ok, report
    assert (report.entries, len(segments(directory))) == (50, 2)
    assert report.last_seq == 30 * 2 + 20 + 3  # 30 signed one by one; 20 with 2 + 1 at close
    assert verify_log(directory, PUBLIC, at_least=report.last_seq).ok
    assert verify_log(tmp_path, PUBLIC).ok  # no segments: an empty log (see at_least)


def test_a_receipt_names_the_entry_as_written(tmp_path):
    (tmp_path / "audit").mkdir()
    with AuditLog(tmp_path / "audit", KEY) as log:
        receipt = log.record(request(1))
    records = read(receipt.file)
    assert (records[0]["seq"], records[0]["hash"], records[0]["entry"]) == (
        receipt.seq, receipt.hash, request(1))
    assert records[-1]["type"] == "checkpoint"


def test_an_edited_field_is_found(log):
    path = segments(log)[0]
    records = read(path)
    target = line_of(records, 21)
    records[target - 1]["entry"]["rows"] = 0
    write(path, records)
    found = failure(log)
    assert (found.kind, found.file, found.line, found.seq) == ("edited", path, target, 21)


def test_an_edit_with_a_recomputed_hash_is_found(log):
    path = segments(log)[0]
    records = read(path)
    target = line_of(records, 21)
    records[target - 1]["entry"]["department"] = "public security"
    records[target - 1] = rehash(records[target - 1])
    write(path, records)
    found = failure(log)
    assert (found.kind, found.line, found.seq) == ("edited", target, 21)


def test_an_edit_that_only_changes_the_encoding_is_found(log):
    path = segments(log)[0]
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace('"seq":', '"seq": ')
    path.write_text("\n".join(lines) + "\n")
    assert (failure(log).kind, failure(log).line) == ("edited", 5)


def test_a_deleted_line_is_found(log):
    path = segments(log)[0]
    records = read(path)
    target = line_of(records, 33)
    del records[target - 1]
    write(path, records)
    found = failure(log)
    assert (found.kind, found.line, found.seq) == ("deleted", target, 33)


def test_two_swapped_lines_are_found(log):
    path = segments(log)[0]
    records = read(path)
    first = line_of(records, 40)
    records[first - 1], records[first] = records[first], records[first - 1]
    write(path, records)
    found = failure(log)
    assert (found.kind, found.line, found.seq) == ("reordered", first, 41)


def test_a_duplicated_line_is_found(log):
    path = segments(log)[0]
    records = read(path)
    records.insert(12, records[3])
    write(path, records)
    assert (failure(log).kind, failure(log).line) == ("reordered", 13)


def test_a_file_cut_mid_line_is_found(log):
    path = segments(log)[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    complete = path.read_bytes().split(b"\n")[:-1]
    found = failure(log)
    assert (found.kind, found.line) == ("truncated", len(complete) + 1)
    assert found.seq == json.loads(complete[-1])["seq"] + 1


def test_a_truncation_that_takes_the_closing_checkpoint_is_found(log):
    path = segments(log)[0]
    records = read(path)
    write(path, records[:-1])
    found = failure(log)
    # Every entry after the last surviving checkpoint is unsigned; the first of them is named.
    last_checkpoint = max(r["seq"] for r in records[:-1] if r["type"] == "checkpoint")
    assert (found.kind, found.seq) == ("unsigned", last_checkpoint + 1)
    assert found.line == line_of(records, last_checkpoint + 1)


def test_a_truncation_back_to_a_checkpoint_is_found_only_with_an_anchor(log):
    path = segments(log)[0]
    records = read(path)
    head = verify_log(log, PUBLIC).last_seq
    cut = next(n for n, r in enumerate(records, 1) if r["type"] == "checkpoint" and n >= 20)
    write(path, records[:cut])
    # The documented limit: a shorter log that ends on a checkpoint is a valid log ...
    assert verify_log(log, PUBLIC).ok
    # ... unless the verifier knows a sequence number that was written.
    found = failure(log, at_least=head)
    assert (found.kind, found.seq) == ("truncated", records[cut - 1]["seq"] + 1)


def test_an_emptied_segment_is_found(log):
    path = segments(log)[0]
    path.write_bytes(b"")
    assert (failure(log).kind, failure(log).line) == ("truncated", 1)


def test_a_deleted_segment_is_found(tmp_path):
    directory = write_log(tmp_path / "audit", entries=5)
    write_log(directory, entries=5)
    write_log(directory, entries=5)
    middle = segments(directory)[1]
    middle.unlink()
    found = failure(directory)
    assert (found.kind, found.file, found.line, found.seq) == (
        "deleted", segments(directory)[1], 1, 11)


@pytest.mark.parametrize("forger", ["garbled", "another key"])
def test_a_forged_checkpoint_is_found(log, forger):
    path = segments(log)[0]
    records = read(path)
    target = next(n for n, r in enumerate(records, 1) if r["type"] == "checkpoint" and n > 10)
    checkpoint = records[target - 1]
    signed = {k: v for k, v in checkpoint.items() if k not in ("signature", "hash")}
    signature = (base64.b64decode(checkpoint["signature"])[::-1] if forger == "garbled"
                 else generate_key().sign(encode(signed).encode()))
    records[target - 1] = rehash({**checkpoint, "signature": base64.b64encode(signature).decode()})
    write(path, records)
    found = failure(log)
    assert (found.kind, found.line, found.seq) == ("bad_signature", target, checkpoint["seq"])


def test_an_appended_entry_with_a_recomputed_hash_is_found(log):
    path = segments(log)[0]
    records = read(path)
    last = records[-1]
    fake = rehash({"seq": last["seq"] + 1, "type": "entry", "time": last["time"],
                   "prev": last["hash"], "entry": request(99)})
    write(path, [*records, fake])
    found = failure(log)
    assert (found.kind, found.line, found.seq) == ("unsigned", len(records) + 1, fake["seq"])
    # And with a checkpoint the forger signed with a key of their own.
    signed = {"seq": fake["seq"] + 1, "type": "checkpoint", "time": last["time"],
              "prev": fake["hash"]}
    signature = base64.b64encode(generate_key().sign(encode(signed).encode())).decode()
    write(path, [*records, fake, rehash({**signed, "signature": signature})])
    found = failure(log)
    assert (found.kind, found.line) == ("bad_signature", len(records) + 2)


def test_the_writer_refuses_a_broken_log_and_a_second_writer(log):
    path = segments(log)[0]
    clean = path.read_bytes()
    path.write_bytes(clean.replace(b'"rows":3,', b'"rows":4,'))
    with pytest.raises(AuditError, match="broken audit log: edited"):
        AuditLog(log, KEY)
    path.write_bytes(clean)
    with pytest.raises(AuditError, match="broken audit log: bad_signature"):
        AuditLog(log, generate_key())  # another key: the existing checkpoints do not verify
    with AuditLog(log, KEY), pytest.raises(AuditError, match="in use"):
        AuditLog(log, KEY)


@pytest.mark.parametrize("field, value", [
    ("reason", f"WHERE resident_id = '{RESIDENT_ID}'"),
    ("reason", RESIDENT_ID.lower()),
    ("user", "110105194912310021"),
    ("rows", 110105194912310021),
    ("grants", ["ok", {"subject": RESIDENT_ID}]),
    ("versions", {RESIDENT_ID: 1}),
    ("tables", {"residents": {"projected": [RESIDENT_ID]}}),
])
def test_a_raw_resident_id_is_never_written(tmp_path, field, value):
    (tmp_path / "audit").mkdir()
    with AuditLog(tmp_path / "audit", KEY) as log:
        with pytest.raises(AuditError, match=f"{field}.*raw resident ID") as raised:
            log.record({**request(1), field: value})
        assert RESIDENT_ID not in str(raised.value) and "1101051949" not in str(raised.value)
        log.record(request(2))
    text = "".join(p.read_text() for p in segments(tmp_path / "audit"))
    assert RESIDENT_ID not in text and "110105194912310021" not in text
    assert verify_log(tmp_path / "audit", PUBLIC).entries == 1


def test_a_raw_resident_id_as_a_field_name_is_not_quoted_back(tmp_path):
    (tmp_path / "audit").mkdir()
    with AuditLog(tmp_path / "audit", KEY) as log, \
            pytest.raises(AuditError, match="a key of the entry") as raised:
        log.record({**request(1), RESIDENT_ID: "x"})
    assert RESIDENT_ID not in str(raised.value)


def test_hashes_pseudonyms_and_other_numbers_are_not_taken_for_ids():
    reject_raw_ids({
        "query_fingerprint": "ab" + "1" * 18 + "cd" + "0" * 44,
        "result_hash": hashlib.sha256(RESIDENT_ID.encode()).hexdigest(),
        "reason": "pseudonym 9f3a17c2, 12345678901234567890 bytes, 12345678901234567 rows",
        "rows": 10**19, "bytes": 10**16,
    })


@pytest.mark.parametrize("entry, match", [
    ({"decision": "allow", "sql": "SELECT 1"}, "unknown audit entry fields: sql"),
    ({"user": "li"}, "decision"),
    ({"decision": "maybe"}, "decision"),
    ({"decision": "deny", "grants": {"a", "b"}}, "JSON"),
    ({"decision": "allow", "bytes": math.nan}, "JSON"),
    (["decision", "allow"], "mapping"),
])
def test_an_entry_that_cannot_be_encoded_is_refused_and_nothing_is_written(tmp_path, entry,
                                                                          match):
    (tmp_path / "audit").mkdir()
    with AuditLog(tmp_path / "audit", KEY) as log:
        with pytest.raises(AuditError, match=match):
            log.record(entry)
        log.record(request(1))
    assert verify_log(tmp_path / "audit", PUBLIC).entries == 1


def test_record_raises_when_the_directory_is_gone(tmp_path):
    directory = tmp_path / "audit"
    directory.mkdir()
    log = AuditLog(directory, KEY)
    shutil.rmtree(directory)
    with pytest.raises(AuditError, match="not written"):
        log.record(request(1))
    log.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_record_raises_when_the_directory_is_read_only(tmp_path):
    directory = tmp_path / "audit"
    directory.mkdir()
    directory.chmod(0o500)
    try:
        with AuditLog(directory, KEY) as log, pytest.raises(AuditError, match="not written"):
            log.record(request(1))
    finally:
        directory.chmod(0o700)


def test_after_a_failed_fsync_the_log_refuses_every_later_entry(tmp_path, monkeypatch):
    directory = write_log(tmp_path / "audit", entries=2)
    log = AuditLog(directory, KEY)
    log.record(request(1))

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(AuditError, match="No space left"):
        log.record(request(2))
    monkeypatch.undo()
    with pytest.raises(AuditError, match="stopped after a failed write"):
        log.record(request(3))
    log.close()


def test_several_threads_write_one_unbroken_chain(tmp_path):
    (tmp_path / "audit").mkdir()
    receipts = []
    with AuditLog(tmp_path / "audit", KEY, checkpoint_every=3) as log:
        def work(thread: int) -> None:
            for n in range(20):
                receipts.append(log.record(request(thread * 100 + n)))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    report = verify_log(tmp_path / "audit", PUBLIC)
    assert report.ok, report
    assert report.entries == len({r.seq for r in receipts}) == 120


def test_the_audit_verify_command(log, tmp_path, capsys):
    _, public = write_key_pair(KEY, tmp_path / "keys")
    assert main(["audit", "verify", str(log), "--key", str(public)]) == 0
    assert "intact: 50 entries" in capsys.readouterr().out
    path = segments(log)[0]
    records = read(path)
    target = line_of(records, 17)
    records[target - 1]["entry"]["rows"] = -1
    write(path, records)
    assert main(["audit", "verify", str(log), "--key", str(public)]) == 1
    assert f"edited at {path.name} line {target}, seq 17" in capsys.readouterr().err
    assert main(["audit", "verify", str(tmp_path / "missing"), "--key", str(public)]) == 2
    assert "no audit directory" in capsys.readouterr().err

"""The governed service end to end: a real Flight server over TLS in front of a real Dask
cluster that itself requires mutual TLS, every request audited, every forgery refused."""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path

import jwt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from distributed import LocalCluster

from compute.cli import main
from compute.generate import generate
from compute.jobs import JOBS
from compute.session import Session
from compute.tables import Catalog
from hub.audit import AuditLog
from hub.client import connect
from hub.exceptions import AccessDenied, AuthenticationError, HubError
from hub.identity import DEFAULT_AUDIENCE, generate_key, issue, verify, write_key_pair
from hub.policy import parse_policy
from hub.server import HubService, connect_closed_cluster, result_hash
from hub.tls import cluster_security, write_certificates
from hub.views import GovernedSession

POLICY = """
version: 1
purposes:
  - name: elderly-allowance-2026
  - name: pension-integrity-2026
  - name: population-statistics-2026
grants:
  - name: civil-affairs-residents
    departments: [civil affairs]
    tables: [residents, insured_persons]
    columns: [resident_id, sex, birth_date, division_code]
    purpose: elderly-allowance-2026
    expires: 2027-06-30
    masks: {personal_id: pseudonym, personal: generalise}
  - name: hrss-by-province
    departments: [human resources and social security]
    tables: [residents, deaths]
    columns: [resident_id, birth_date, division_code, death_date]
    purpose: pension-integrity-2026
    expires: 2027-06-30
    scope: province
    masks: {personal_id: partial, personal: null}
  - name: statistics-rollup
    departments: [statistics bureau]
    tables: [residents, deaths]
    columns: [resident_id, sex, birth_date, division_code, death_date]
    purpose: population-statistics-2026
    expires: 2027-06-30
    jobs: [rollup]
    min_cell: 5
"""
QUERY = "SELECT division_code, COUNT(*) AS people FROM residents GROUP BY division_code"
IDS = "SELECT resident_id, birth_date FROM residents WHERE division_code >= 440000"
SECRET = b"s" * 32
KEY = generate_key()
CIVIL = ("civil affairs", "11", "elderly-allowance-2026")
HRSS = ("human resources and social security", "44", "pension-integrity-2026")
STATS = ("statistics bureau", "44", "population-statistics-2026")


@dataclass
class Hub:
    root: Path
    url: str
    ca: Path
    service: HubService
    session: Session
    audit_dir: Path
    audit_pub: Path
    clock: list

    def token(self, who=CIVIL, user="wang.li", **changes) -> str:
        department, province, purpose = who
        return issue(KEY, department, user, province=province, purpose=purpose, **changes)

    def client(self, token: str):
        return connect(self.url, token=token, ca=self.ca)

    def entries(self) -> list[dict]:
        return audit_entries(self.audit_dir)


def audit_entries(directory: Path) -> list[dict]:
    records = [json.loads(line) for path in sorted(directory.glob("audit-*.jsonl"))
               for line in path.read_text().splitlines()]
    return [record["entry"] for record in records if record["type"] == "entry"]


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return write_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def closed_cluster(certs):
    """A scheduler and a worker that accept only TLS peers with a certificate of the CA."""
    security = cluster_security(certs["ca"], certs["cluster"], certs["cluster-key"])
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, protocol="tls://",
                      host="127.0.0.1", security=security, dashboard_address=":0") as local:
        yield local.scheduler_address


def make_service(session, certs, audit_dir, audit_key, clock, **kwargs) -> HubService:
    return HubService(
        "grpc+tls://127.0.0.1:0", session=session, policy=parse_policy(POLICY),
        token_key=KEY.public_key(), audit_log=AuditLog(audit_dir, audit_key), secret=SECRET,
        tls_certificates=[(certs["flight"].read_bytes(), certs["flight-key"].read_bytes())],
        clock=lambda: clock[0] or dt.datetime.now(UTC), **kwargs)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, certs, closed_cluster):
    root = tmp_path_factory.mktemp("hub")
    generate(root / "data", scale=0.002, seed=5)
    security = cluster_security(certs["ca"], certs["service"], certs["service-key"])
    handle = connect_closed_cluster(closed_cluster, security, backend="cpu")
    session = Session(Catalog.load(root / "data"), handle)
    audit_key = generate_key()
    _, audit_pub = write_key_pair(audit_key, root / "keys", "audit")
    (root / "audit").mkdir()
    clock = [None]
    service = make_service(session, certs, root / "audit", audit_key, clock)
    try:
        yield Hub(root, f"grpc+tls://127.0.0.1:{service.port}", certs["ca"], service, session,
                  root / "audit", audit_pub, clock)
    finally:
        service.shutdown()
        service.audit_log.close()
        handle.close()


def expected(hub: Hub, token: str, build) -> dict[str, pd.DataFrame]:
    """The oracle: the same request run in-process on a GovernedSession (owner's engine,
    the caller's views), through the same Arrow round trip."""
    identity = verify(token, KEY.public_key())
    governed = GovernedSession(hub.session, parse_policy(POLICY), identity, None,
                               dt.datetime.now(UTC), SECRET)
    result = governed.run(build(governed), show_progress=False)
    return {name: roundtrip(frame) for name, frame in result.outputs.items()}


def roundtrip(frame: pd.DataFrame) -> pd.DataFrame:
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False).to_pandas()


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    order = list(got.columns)
    pd.testing.assert_frame_equal(got.sort_values(order).reset_index(drop=True),
                                  want.sort_values(order).reset_index(drop=True))


# -- results equal the in-process governed run ------------------------------------------------

def test_sql_equals_the_governed_session_and_is_audited(hub):
    token = hub.token()
    before = len(hub.entries())
    with hub.client(token) as client:
        got = client.sql(QUERY, progress=False)
    want = expected(hub, token, lambda s: s.sql_job(QUERY))["result"]
    assert_same(got, want)
    assert got["people"].sum() == hub.session.rows("residents")  # civil affairs: every row
    entries = hub.entries()[before:]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["decision"] == "allow"
    assert (entry["user"], entry["department"], entry["purpose"]) == (
        "wang.li", "civil affairs", "elderly-allowance-2026")
    assert entry["token_id"] == verify(token, KEY.public_key()).token_id
    assert entry["query_fingerprint"] != QUERY and len(entry["query_fingerprint"]) == 64
    assert entry["grants"] == ["civil-affairs-residents"]
    assert entry["tables"]["residents"]["projected"] == ["division_code"]
    assert entry["rows"] == {"result": len(got)}
    assert entry["result_hash"]["result"] == result_hash(pa.Table.from_pandas(
        got, preserve_index=False))
    assert entry["versions"] == {"residents": hub.session.catalog.table("residents").version}


def test_a_job_equals_the_governed_session(hub):
    token = hub.token()
    with hub.client(token) as client:
        got = client.run("verify", sources=["insured_persons"], progress=False)
    params = JOBS["verify"].params(sources=["insured_persons"])
    want = expected(hub, token, lambda s: JOBS["verify"].build(s, params))
    assert set(got.outputs) == set(want)
    for name in want:
        assert_same(got[name], want[name])
    entry = hub.entries()[-1]
    assert entry["decision"] == "allow" and set(entry["rows"]) == set(want)
    assert entry["masks"]["insured_persons.resident_id"] == "pseudonym"
    assert entry["masks"]["residents.birth_date"] == "birth_year"
    assert set(entry["versions"]) == {"residents", "insured_persons"}


def test_an_aggregate_grant_runs_its_job_suppressed_and_nothing_else(hub):
    token = hub.token(STATS, user="chen.jing")
    before = len(hub.entries())
    with hub.client(token) as client:
        with pytest.raises(AccessDenied, match=r"only to the aggregate jobs \['rollup'\]"):
            client.sql("SELECT sex, birth_date, COUNT(*) FROM residents GROUP BY 1, 2",
                       progress=False)
        with pytest.raises(HubError, match="invalid request"):  # finds no table to verify
            client.run("verify", progress=False)
        got = client.run("rollup", reference_date="2025-06-01", progress=False)
    params = JOBS["rollup"].params(reference_date="2025-06-01")
    want = expected(hub, token, lambda s: s.build("rollup", params))
    assert set(got.outputs) == set(want) == {"population", "enterprises"}
    for name in want:
        assert_same(got[name], want[name])
    population = got["population"]
    assert len(population) and population["population"].min() >= 5
    assert set(population["sex"]) == {1, 2}  # unmasked inside the job
    owner = hub.session.run(JOBS["rollup"].build(hub.session, params), show_progress=False)
    assert (owner["population"]["population"] < 5).any()  # there were small cells to hide
    entries = hub.entries()[before:]
    assert [e["decision"] for e in entries] == ["deny", "deny", "allow"]
    assert entries[-1]["grants"] == ["statistics-rollup"]
    assert "cells under 5 suppressed" in entries[-1]["reason"]


def test_ids_leave_masked_as_the_grant_says(hub):
    with hub.client(hub.token(HRSS, user="li.na")) as client:
        partial = client.sql(IDS, progress=False)
    with hub.client(hub.token()) as client:
        pseudonyms = client.sql(IDS, progress=False)
    assert 0 < len(partial) < len(pseudonyms)  # li.na sees her province (44) only
    assert len(partial) and partial["resident_id"].str.contains(r"\*{8}").all()
    assert partial["birth_date"].isna().all()  # personal: null
    raw = set(hub.session.sql(IDS).compute()["resident_id"])
    assert not raw & set(pseudonyms["resident_id"])  # pseudonymised, never raw
    assert not raw & set(partial["resident_id"])


def test_two_analysts_at_once_get_their_own_answers(hub):
    answers = {}

    def ask(who, user):
        with hub.client(hub.token(who, user=user)) as client:
            answers[user] = client.sql(QUERY, progress=False)

    threads = [threading.Thread(target=ask, args=args)
               for args in ((CIVIL, "wang.li"), (HRSS, "li.na"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    civil, hrss = answers["wang.li"], answers["li.na"]
    assert_same(civil, expected(hub, hub.token(), lambda s: s.sql_job(QUERY))["result"])
    assert_same(hrss, expected(hub, hub.token(HRSS), lambda s: s.sql_job(QUERY))["result"])
    assert (hrss["division_code"] // 10_000 == 44).all()  # scoped to the token's province
    assert len(hrss) < len(civil)


def test_the_catalog_lists_only_what_the_caller_may_read(hub):
    with hub.client(hub.token(("taxation", "11", None), user="zhao.lei")) as client:
        listing = client.catalog()
    names = set(listing["name"])
    assert "tax_returns" in names and "divisions" in names  # its own; unconditional
    assert "residents" not in names and "deaths" not in names
    assert hub.entries()[-1]["reason"] == "catalog"


# -- refusals, each audited once ---------------------------------------------------------------

def test_a_request_without_a_grant_is_denied_and_audited(hub):
    before = len(hub.entries())
    with hub.client(hub.token(("taxation", "11", None), user="zhao.lei")) as client, \
            pytest.raises(AccessDenied, match="residents"):
        client.sql(QUERY, progress=False)
    entries = hub.entries()[before:]
    assert [e["decision"] for e in entries] == ["deny"]
    assert entries[0]["user"] == "zhao.lei" and "residents" in entries[0]["reason"]


def test_department_and_province_cannot_be_sent_by_the_client(hub):
    token = hub.token(HRSS, user="li.na")
    with hub.client(token) as client:
        command = {"kind": "sql", "query": QUERY, "department": "civil affairs",
                   "province": "11"}
        import pyarrow.flight as flight

        descriptor = flight.FlightDescriptor.for_command(json.dumps(command).encode())
        with pytest.raises(flight.FlightServerError, match="unknown fields"):
            client._flight.get_flight_info(descriptor, client._options)
        with pytest.raises(AccessDenied, match="purpose"):  # the token's purpose is bound
            client.sql(QUERY, purpose="elderly-allowance-2026", progress=False)
    assert hub.entries()[-1]["decision"] == "deny"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict, payload: dict, sign) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def claims(**changes) -> dict:
    now = int(time.time())
    base = {"sub": "mallory", "aud": DEFAULT_AUDIENCE, "iat": now - 60, "exp": now + 3600,
            "jti": "t-forged", "department": "public security"}
    base.update(changes)
    return base


def forgeries(hub: Hub) -> dict[str, str]:
    good = hub.token(HRSS, user="li.na")
    head, body, signature = good.split(".")
    edited = json.loads(base64.urlsafe_b64decode(body + "=="))
    edited.update(department="public security", province=None)
    public_pem = KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "bad signature": f"{head}.{body}.{signature[:-4]}AAAA",
        "alg none": handmade({"alg": "none", "typ": "JWT"}, claims(), lambda _: b""),
        "hs256 with the public key": handmade(
            {"alg": "HS256", "typ": "JWT"}, claims(),
            lambda data: hmac.new(public_pem, data, "sha256").digest()),
        "rsa key": jwt.encode(claims(), rsa_key, algorithm="RS256"),
        "another ed25519 key": issue(generate_key(), "public security", "mallory"),
        "expired": jwt.encode(claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
                              KEY, algorithm="EdDSA"),
        "wrong audience": jwt.encode(claims(aud="another-service"), KEY, algorithm="EdDSA"),
        "edited claims": f"{head}.{b64(json.dumps(edited).encode())}.{signature}",
        "garbage": "not-a-token",
    }


def test_forged_tokens_are_refused_and_audited(hub):
    for name, token in forgeries(hub).items():
        before = len(hub.entries())
        with hub.client(token) as client:
            with pytest.raises(AuthenticationError, match="unauthenticated"):
                client.sql(QUERY, progress=False)
            with pytest.raises(AuthenticationError):
                client.catalog()
        entries = hub.entries()[before:]
        assert [e["decision"] for e in entries] == ["deny", "deny"], name
        assert "user" not in entries[0], name  # nothing of a forged token is trusted


def test_a_call_without_a_token_is_refused(hub):
    import pyarrow.flight as flight

    raw = flight.FlightClient(hub.url, tls_root_certs=hub.ca.read_bytes())
    before = len(hub.entries())
    descriptor = flight.FlightDescriptor.for_command(
        json.dumps({"kind": "sql", "query": QUERY}).encode())
    with pytest.raises(flight.FlightUnauthenticatedError):
        raw.get_flight_info(descriptor)
    with pytest.raises(flight.FlightUnauthenticatedError):
        list(raw.do_action(flight.Action("catalog", b"{}")))
    with pytest.raises(flight.FlightUnauthenticatedError):
        raw.do_get(flight.Ticket(b"x/result")).read_all()
    assert [e["decision"] for e in hub.entries()[before:]] == ["deny"] * 3
    raw.close()


def test_the_service_speaks_tls_only(hub):
    import pyarrow.flight as flight

    plain = flight.FlightClient(hub.url.replace("grpc+tls", "grpc+tcp"))
    with pytest.raises(flight.FlightError):
        list(plain.do_action(flight.Action("catalog", b"{}")), )
    plain.close()
    with pytest.raises(ValueError, match="TLS"):
        connect(hub.url.replace("grpc+tls", "grpc+tcp"), token=hub.token())


def test_another_callers_ticket_returns_nothing(hub):
    with hub.client(hub.token()) as owner, hub.client(hub.token(HRSS, user="li.na")) as thief:
        request = owner.submit_sql(QUERY)
        stolen = type(request).__new__(type(request))
        stolen.__dict__.update(request.__dict__, _hub=thief)
        with pytest.raises(AccessDenied, match="no such request"):
            stolen.fetch()
        with pytest.raises(AccessDenied):
            stolen.cancel()
        assert len(request.result(progress=False)["result"])  # the owner still gets it


def test_a_grant_that_expires_before_the_fetch_returns_nothing(hub):
    with hub.client(hub.token()) as client:
        request = client.submit_sql(QUERY)
        request.wait(progress=False)
        hub.clock[0] = dt.datetime(2027, 7, 1, tzinfo=UTC)  # the grant ran out meanwhile
        try:
            with pytest.raises(AccessDenied, match="expired"):
                request.fetch()
        finally:
            hub.clock[0] = None
    entry = hub.entries()[-1]
    assert entry["decision"] == "deny" and "expired" in entry["reason"]
    assert entry["rows"] == 0


def test_a_cancelled_request_stops_and_is_audited(hub, closed_cluster, certs):
    from distributed import Client

    platform = Client(closed_cluster, security=cluster_security(
        certs["ca"], certs["platform"], certs["platform-key"]))
    gate = platform.submit(time.sleep, 3, pure=False), platform.submit(time.sleep, 3, pure=False)
    try:
        with hub.client(hub.token()) as client:
            request = client.submit_sql(QUERY)  # queued behind the sleeps
            assert request.status()["state"] == "running"
            futures = list(hub.service._requests[request.id].futures)
            before = len(hub.entries())
            request.cancel()
            assert all(future.status == "cancelled" for future in futures)
            assert request.id not in hub.service._requests
            with pytest.raises(AccessDenied, match="no such request"):
                request.fetch()  # nothing of it is returned: a denied fetch
        cancelled, fetch = hub.entries()[before:]
        assert "cancelled" in cancelled["reason"] and cancelled["rows"] == 0
        assert fetch["decision"] == "deny"
    finally:
        platform.cancel(list(gate))
        platform.close()


def test_a_fetch_the_client_gives_up_on_stops_the_request(hub, closed_cluster, certs):
    import pyarrow.flight as flight
    from distributed import Client

    platform = Client(closed_cluster, security=cluster_security(
        certs["ca"], certs["platform"], certs["platform-key"]))
    gate = [platform.submit(time.sleep, 3, pure=False) for _ in range(2)]
    try:
        with hub.client(hub.token()) as client:
            request = client.submit_sql(QUERY)
            futures = list(hub.service._requests[request.id].futures)
            before = len(hub.entries())
            impatient = flight.FlightCallOptions(headers=client._options.headers, timeout=0.5)
            with pytest.raises(flight.FlightTimedOutError):
                client._flight.do_get(request._tickets["result"], impatient).read_all()
            deadline = time.monotonic() + 10  # the server notices at its next poll
            while len(hub.entries()) == before and time.monotonic() < deadline:
                time.sleep(0.05)
        [entry] = hub.entries()[before:]
        assert "cancelled" in entry["reason"] and entry["rows"] == 0
        assert all(future.status == "cancelled" for future in futures)
    finally:
        platform.cancel(gate)
        platform.close()


def test_the_audit_log_has_one_entry_per_request_and_verifies(hub, capsys):
    start = len(hub.entries())
    with hub.client(hub.token()) as client:
        client.sql(QUERY, progress=False)
        client.run("verify", sources="insured_persons", progress=False)
        client.catalog()
    with hub.client("forged.token.here") as client, pytest.raises(AuthenticationError):
        client.catalog()
    assert len(hub.entries()) - start == 4
    assert main(["audit", "verify", str(hub.audit_dir), "--key", str(hub.audit_pub)]) == 0
    assert "intact" in capsys.readouterr().out
    text = "".join(path.read_text() for path in hub.audit_dir.glob("audit-*.jsonl"))
    raw = hub.session.sql("SELECT resident_id FROM residents").compute()["resident_id"]
    assert not any(value in text for value in raw.head(200))


def test_a_request_after_the_audit_directory_became_unwritable_returns_nothing(
        hub, certs, tmp_path):
    audit_dir = tmp_path / "audit"
    audit_dir.mkdir()
    service = make_service(hub.session, certs, audit_dir, generate_key(), [None])
    try:
        url = f"grpc+tls://127.0.0.1:{service.port}"
        # Root ignores file modes: move the directory away and leave a file in its place.
        audit_dir.rename(tmp_path / "moved")
        audit_dir.write_text("")
        with connect(url, token=hub.token(), ca=hub.ca) as client:
            with pytest.raises(HubError, match="audit"):
                client.sql(QUERY, progress=False)
            with pytest.raises(HubError, match="audit"):  # the log stays closed
                client.catalog()
        audit_dir.unlink()
        shutil.move(tmp_path / "moved", audit_dir)
        assert audit_entries(audit_dir) == []
    finally:
        service.shutdown()
        service.audit_log.close()


def test_a_request_never_fetched_is_audited_as_abandoned(hub):
    with hub.client(hub.token()) as client:
        client.submit_sql(QUERY)
        before = len(hub.entries())
        hub.service.request_ttl = 0.0
        try:
            client.catalog()  # any request sweeps
        finally:
            hub.service.request_ttl = 600.0
    reasons = [entry["reason"] for entry in hub.entries()[before:]]
    assert any("not fetched" in reason for reason in reasons)
    assert not hub.service._requests


def test_an_invalid_request_is_refused_and_audited(hub):
    with hub.client(hub.token()) as client:
        before = len(hub.entries())
        with pytest.raises(HubError, match="invalid request"):
            client.run("no-such-job", progress=False)
        with pytest.raises(HubError, match="invalid request"):
            client.sql("SELECT FROM WHERE", progress=False)
        with pytest.raises(HubError, match="invalid request"):
            client.sql("SELECT * FROM residents WHERE resident_id = '11010519491231002X'"
                       " AND nope = 1", progress=False)
    entries = hub.entries()[before:]
    assert [e["decision"] for e in entries] == ["deny"] * 3
    assert "11010519491231002X" not in json.dumps(entries)


@pytest.mark.parametrize("expires", [timedelta(hours=1)])
def test_a_token_is_checked_on_every_call(hub, expires):
    token = hub.token(expires=expires)
    with hub.client(token) as client:
        assert len(client.catalog())


# -- the command line ---------------------------------------------------------------------------

GOVGRID = str(Path(sys.executable).with_name("govgrid"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_govgrid_hub_sql_prints_or_writes_the_result(hub, tmp_path, capsys):
    token_file = tmp_path / "token"
    token_file.write_text(hub.token())
    out = tmp_path / "result.parquet"
    assert main(["hub", "sql", hub.url, QUERY, "--token", f"@{token_file}", "--ca",
                 str(hub.ca), "--out", str(out)]) == 0
    with hub.client(hub.token()) as client:
        assert_same(pq.read_table(out).to_pandas(), client.sql(QUERY, progress=False))
    assert main(["hub", "sql", hub.url, "SELECT COUNT(*) AS n FROM residents", "--token",
                 hub.token(), "--ca", str(hub.ca)]) == 0
    assert str(hub.session.rows("residents")) in capsys.readouterr().out
    assert main(["hub", "sql", hub.url, QUERY, "--token", "forged", "--ca",
                 str(hub.ca)]) == 2
    assert "unauthenticated" in capsys.readouterr().err


def serve_arguments(hub: Hub, tmp_path: Path, certs) -> list[str]:
    keys = tmp_path / "keys"
    _, token_pub = write_key_pair(KEY, keys, "tokens")
    audit_private, _ = write_key_pair(generate_key(), keys, "audit")
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "policy.yaml").write_text(POLICY)
    return ["serve", "--data", str(hub.root / "data"), "--policy", str(tmp_path / "policy.yaml"),
            "--audit", str(tmp_path / "audit"), "--audit-key", str(audit_private),
            "--token-key", str(token_pub), "--secret-file", str(tmp_path / "secret"),
            "--tls-cert", str(certs["flight"]), "--tls-key", str(certs["flight-key"]),
            "--backend", "cpu"]


def test_govgrid_serve_runs_in_front_of_the_closed_cluster(hub, tmp_path, certs,
                                                            closed_cluster):
    port = free_port()
    arguments = [*serve_arguments(hub, tmp_path, certs), "--port", str(port),
                 "--scheduler", closed_cluster, "--cluster-ca", str(certs["ca"]),
                 "--cluster-cert", str(certs["service"]),
                 "--cluster-key", str(certs["service-key"])]
    proc = subprocess.Popen([GOVGRID, *arguments], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on grpc+tls://127.0.0.1:" in line, proc.stderr.read()
        url = f"grpc+tls://127.0.0.1:{port}"
        with connect(url, token=hub.token(), ca=hub.ca) as client, \
                hub.client(hub.token()) as direct:
            assert_same(client.sql(QUERY, progress=False), direct.sql(QUERY, progress=False))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert len(audit_entries(tmp_path / "audit")) == 1
    assert main(["audit", "verify", str(tmp_path / "audit"), "--key",
                 str(tmp_path / "keys" / "audit.pub.pem")]) == 0


def test_govgrid_serve_refuses_an_open_cluster(hub, tmp_path, certs, capsys):
    arguments = serve_arguments(hub, tmp_path, certs)
    assert main([*arguments, "--scheduler", "tls://127.0.0.1:1"]) == 2
    assert "--cluster-ca" in capsys.readouterr().err
    credentials = ["--cluster-ca", str(certs["ca"]), "--cluster-cert", str(certs["service"]),
                   "--cluster-key", str(certs["service-key"])]
    assert main([*arguments, "--scheduler", "tcp://127.0.0.1:1", *credentials]) == 2
    assert "tls://" in capsys.readouterr().err


def test_govgrid_serve_without_a_scheduler_says_it_is_insecure(hub, tmp_path, certs, capsys,
                                                                monkeypatch):
    import cluster
    from cluster.exceptions import ClusterError

    def no_cluster(**kwargs):
        raise ClusterError("not started in this test")

    monkeypatch.setattr(cluster, "start", no_cluster)
    assert main(serve_arguments(hub, tmp_path, certs)) == 2
    err = capsys.readouterr().err
    assert "WITHOUT TLS" in err and "development only" in err

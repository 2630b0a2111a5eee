"""Load on the governed hub: analysts with different grants at once, every answer checked.

    python -m benchmarks.hub_load --scale 0.005 --requests 6          # the test-size run
    python -m benchmarks.hub_load --scale 0.1 --requests 50 --json bench-results/hub.jsonl

Starts a whole hub on this machine, the way ``govgrid serve`` runs in front of a closed
cluster: a CA and certificates, a Dask cluster that requires mutual TLS, the Flight service
over TLS with a policy, a token key, an audit log and a pseudonym secret. Then 10 analysts
(four departments, each with its own grant, purpose and province; some scoped to their
province; the statistics bureau through an aggregate grant that opens residents and deaths to
the rollup job only) send a fixed number of requests each, all at once, a mix of SQL queries
and built-in jobs. Afterwards, outside the timed part, every answer is checked against the
same request run with the owner's rights, then scoped and masked, in DuckDB:

- each table the request may read is read as its owner reads it (every row and column), then
  scoped and masked as the caller's decision for that request says (:func:`hub.masks.
  apply_decision`, the masks' own functions), and registered in a DuckDB connection;
- a SQL answer must equal the query run by DuckDB over those views;
- a job's answer must equal the job's DuckDB reference (:mod:`benchmarks.reference`) run over
  those views. Columns the caller may not read are given to the reference as nulls of their
  type: the job ran without them, and the reference then finds no disagreement in them and
  breaks no tie by them. Under an aggregate grant the views are decided for the job (personal
  columns unmasked, IDs pseudonymised) and the outputs built from personal columns then go
  through the same small-cell suppression (:func:`hub.masks.suppress_small_cells`) with the
  grant's ``min_cell``.

No request may fail, the audit log must hold one entry per request and verify. It prints a
key | value table of the parameters, then requests per second and p50/p99 latency.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

POLICY = """
version: 1
purposes:
  - name: elderly-allowance-2026
  - name: pension-integrity-2026
  - name: medical-coverage-2026
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
  - name: medical-by-province
    departments: [medical insurance]
    tables: [residents]
    columns: [resident_id, birth_date, division_code]
    purpose: medical-coverage-2026
    expires: 2027-06-30
    scope: province
    masks: {personal_id: pseudonym, personal: generalise}
  - name: statistics-rollup
    departments: [statistics bureau]
    tables: [residents, deaths, enterprises]
    columns: [resident_id, sex, birth_date, division_code, death_date, status,
              registered_capital]
    purpose: population-statistics-2026
    expires: 2027-06-30
    scope: province
    jobs: [rollup]
    min_cell: 5
"""
SECRET = b"benchmark pseudonym secret, 32 bytes or more"
CIVIL = ("civil affairs", "elderly-allowance-2026")
HRSS = ("human resources and social security", "pension-integrity-2026")
MEDICAL = ("medical insurance", "medical-coverage-2026")
STATS = ("statistics bureau", "population-statistics-2026")
# Ten analysts: (user, (department, purpose), province).
ANALYSTS = (
    ("civil.1", CIVIL, "11"), ("civil.2", CIVIL, "44"), ("civil.3", CIVIL, "51"),
    ("hrss.1", HRSS, "44"), ("hrss.2", HRSS, "11"), ("hrss.3", HRSS, "37"),
    ("medical.1", MEDICAL, "32"), ("medical.2", MEDICAL, "41"),
    ("stats.1", STATS, "44"), ("stats.2", STATS, "37"),
)
QUERIES = {
    "people_by_division":
        "SELECT division_code, COUNT(*) AS people FROM residents GROUP BY division_code",
    "births_by_date":
        "SELECT birth_date, COUNT(*) AS people FROM residents GROUP BY birth_date",
    "ids_in_guangdong":
        "SELECT resident_id, division_code FROM residents WHERE division_code >= 440000 "
        "AND division_code < 450000",
    # Enterprises are unconditional: SQL reads them under the default masks (the statistics
    # bureau's aggregate grant does not apply to SQL).
    "enterprises_by_status":
        "SELECT status, COUNT(*) AS enterprises, SUM(registered_capital) AS capital "
        "FROM enterprises GROUP BY status",
}
# What each department asks, in turn: queries, and jobs for civil affairs and statistics.
MIX = {
    CIVIL: ("people_by_division", "job:verify", "births_by_date", "ids_in_guangdong"),
    HRSS: ("people_by_division", "births_by_date", "ids_in_guangdong"),
    MEDICAL: ("ids_in_guangdong", "people_by_division", "births_by_date"),
    STATS: ("job:rollup", "enterprises_by_status"),
}
JOB_PARAMS: dict[str, dict[str, Any]] = {
    "verify": {"sources": ["insured_persons"]},
    "rollup": {"reference_date": "2025-12-01"},
}
# The outputs of an aggregate job built from personal columns, suppressed below min_cell:
# output -> (the column counting people, the keys beside level and division). Rollup's
# enterprises come from public columns only and are published as they are.
SUPPRESSED = {"rollup": {"population": ("population", ("sex", "age_band"))}}


@dataclass
class LocalHub:
    """A whole hub on this machine (see the module docstring)."""

    root: Path
    url: str
    ca: Path
    service: Any
    session: Any
    key: Any
    audit_dir: Path
    audit_public: Any

    def token(self, user: str, department: str, purpose: str, province: str) -> str:
        from hub.identity import issue

        return issue(self.key, department, user, province=province, purpose=purpose,
                     expires=dt.timedelta(hours=1))


@contextlib.contextmanager
def local_hub(root: str | Path, scale: float = 0.005, seed: int = 5,
              workers: int = 1, threads: int = 2, processes: bool = False
              ) -> Iterator[LocalHub]:
    """Generate data (once per ``root``), certificates, a mutual-TLS Dask cluster and the
    Flight service on 127.0.0.1; yields a :class:`LocalHub`; stops everything after."""
    from distributed import LocalCluster

    from compute.generate import generate
    from compute.session import Session
    from compute.tables import Catalog
    from hub.audit import AuditLog
    from hub.identity import generate_key
    from hub.policy import parse_policy
    from hub.server import HubService, connect_closed_cluster
    from hub.tls import cluster_security, write_certificates

    root = Path(root)
    data = root / "data"
    if not (data / "catalog.db").exists():
        generate(data, scale=scale, seed=seed)
    run = Path(tempfile.mkdtemp(prefix="hub-", dir=root))
    certs = write_certificates(run / "certs")
    (run / "audit").mkdir()
    member = cluster_security(certs["ca"], certs["cluster"], certs["cluster-key"])
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=processes,
                      protocol="tls://", host="127.0.0.1", security=member,
                      dashboard_address=":0") as local:
        handle = connect_closed_cluster(
            local.scheduler_address,
            cluster_security(certs["ca"], certs["service"], certs["service-key"]),
            backend="cpu")
        key, audit_key = generate_key(), generate_key()
        service = HubService(
            "grpc+tls://127.0.0.1:0", session=Session(Catalog.load(data), handle),
            policy=parse_policy(POLICY), token_key=key.public_key(),
            audit_log=AuditLog(run / "audit", audit_key), secret=SECRET,
            tls_certificates=[(certs["flight"].read_bytes(), certs["flight-key"].read_bytes())])
        try:
            yield LocalHub(run, f"grpc+tls://127.0.0.1:{service.port}", certs["ca"], service,
                           service.session, key, run / "audit", audit_key.public_key())
        finally:
            service.close()
            handle.close()


@dataclass
class Answer:
    user: str
    department: str
    purpose: str
    province: str
    request: str
    latency: float
    outputs: dict[str, pd.DataFrame] = field(default_factory=dict)
    error: str | None = None


def analyst(hub: LocalHub, user: str, who: tuple[str, str], province: str, requests: int,
            start: threading.Barrier, answers: list[Answer]) -> None:
    from hub.client import connect

    department, purpose = who
    token = hub.token(user, department, purpose, province)
    mix = MIX[who]
    with connect(hub.url, token=token, ca=hub.ca) as client:
        start.wait()
        for index in range(requests):
            request = mix[index % len(mix)]
            begun = time.perf_counter()
            answer = Answer(user, department, purpose, province, request, 0.0)
            try:
                if request.startswith("job:"):
                    job = request.removeprefix("job:")
                    answer.outputs = client.run(job, progress=False, **JOB_PARAMS[job]).outputs
                else:
                    answer.outputs = {"result": client.sql(QUERIES[request], progress=False)}
            except Exception as exc:  # counted and reported: no request may fail
                answer.error = f"{type(exc).__name__}: {exc}"
            answer.latency = time.perf_counter() - begun
            answers.append(answer)


def run_load(hub: LocalHub, requests: int) -> tuple[list[Answer], float]:
    answers: list[Answer] = []
    start = threading.Barrier(len(ANALYSTS) + 1)
    threads = [threading.Thread(target=analyst, args=(hub, user, who, province, requests,
                                                      start, answers))
               for user, who, province in ANALYSTS]
    for thread in threads:
        thread.start()
    start.wait()
    begun = time.perf_counter()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - begun


# -- the oracle --------------------------------------------------------------------------------

class Oracle:
    """Each answer recomputed outside the hub (see the module docstring), cached."""

    def __init__(self, hub: LocalHub) -> None:
        from hub.policy import parse_policy

        self.hub = hub
        self.policy = parse_policy(POLICY)
        self.now = dt.datetime.now(UTC)
        self._raw: dict[str, pd.DataFrame] = {}
        self._views: dict[tuple, tuple[Any, pa.Table | None]] = {}
        self._cache: dict[tuple, dict[str, pd.DataFrame]] = {}

    def raw(self, table: str) -> pd.DataFrame:
        """The table as its owner reads it: every row and column, unmasked."""
        if table not in self._raw:
            self._raw[table] = self.hub.session.table(table).compute().reset_index(drop=True)
        return self._raw[table]

    def decision(self, table: str, caller: Any, job: str | None) -> Any:
        """The caller's decision for ``table`` in a request running ``job`` (None: SQL)."""
        from hub.views import table_info

        entry = self.hub.session.catalog.table(table)
        return self.policy.decide(caller, table_info(entry), self.now, job)

    def view(self, table: str, caller: Any, job: str | None = None) -> pa.Table | None:
        """``table`` scoped and masked for ``caller`` (decided for ``job``) with the masks' own
        functions; None when the caller may not read it."""
        from hub.masks import apply_decision
        from kernels.pseudonym import purpose_key

        key = (table, caller, job)
        if key not in self._views:
            decision = self.decision(table, caller, job)
            view = None
            if decision.allowed:
                pseudonyms = purpose_key(SECRET, decision.purpose) if decision.purpose else None
                frame = apply_decision(self.raw(table), decision, pseudonyms)
                view = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
            self._views[key] = (decision, view)
        return self._views[key][1]

    def expected(self, answer: Answer) -> dict[str, pd.DataFrame]:
        from hub.policy import Caller

        caller = Caller(answer.department, answer.province, answer.purpose)
        key = (caller, answer.request)
        if key not in self._cache:
            if answer.request.startswith("job:"):
                self._cache[key] = self._job(caller, answer.request.removeprefix("job:"))
            else:
                self._cache[key] = {"result": self._sql(caller, QUERIES[answer.request])}
        return self._cache[key]

    def _sql(self, caller: Any, query: str) -> pd.DataFrame:
        import duckdb

        con = duckdb.connect()
        try:
            for table in self.hub.session.catalog.names():
                if not re.search(rf"\b{table}\b", query):
                    continue  # only the tables the query names
                view = self.view(table, caller)
                if view is not None:
                    con.register(table, view)
            return con.execute(query).df()
        finally:
            con.close()

    def _job(self, caller: Any, job: str) -> dict[str, pd.DataFrame]:
        """The DuckDB reference of ``job`` over the tables as the caller may see them for it,
        a column the caller may not read given as nulls; then the aggregate grant's
        small-cell suppression."""
        from benchmarks import reference
        from compute.jobs import JOBS
        from hub.masks import suppress_small_cells

        con = reference.connect()
        min_cells = []
        params = JOBS[job].params(**JOB_PARAMS[job])
        readable: dict[str, list[str]] = {}
        try:
            for table in reference.TABLES:
                view = self.view(table, caller, job)
                if view is None:
                    continue
                readable[table] = list(view.column_names)
                decision = self._views[(table, caller, job)][0]
                if decision.aggregate:
                    min_cells.append(decision.min_cell)
                raw = pa.Schema.from_pandas(self.raw(table), preserve_index=False)
                for field_ in raw:
                    if field_.name not in view.column_names:
                        view = view.append_column(field_, pa.nulls(len(view), field_.type))
                con.register(table, view.select(raw.names))
            outputs = reference.run(con, job, params)
        finally:
            con.close()
        if job == "verify":
            outputs = unchecked_kinds_dropped(outputs, readable, params)
        if min_cells:
            for output, (count, keys) in SUPPRESSED[job].items():
                outputs[output] = suppress_small_cells(outputs[output], count, list(keys),
                                                       max(min_cells))
        return outputs


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame in a comparable form: Arrow round trip, dates as datetimes, rows sorted."""
    frame = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False).to_pandas()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind in "mM" or (values.dtype == object and values.map(
                lambda v: isinstance(v, dt.date)).any()):
            frame[column] = pd.to_datetime(values).astype("datetime64[ns]")
        elif values.dtype.kind in "iuf":
            frame[column] = values.astype("float64")
        else:
            frame[column] = values.astype(object).where(values.notna(), None)
    columns = list(frame.columns)
    return frame.sort_values(columns, na_position="last").reset_index(drop=True)


def mismatch(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> str | None:
    if set(got) != set(want):
        return f"outputs {sorted(got)} != {sorted(want)}"
    for name in want:
        try:
            pd.testing.assert_frame_equal(normalised(got[name]), normalised(want[name]),
                                          check_dtype=False, check_exact=False, rtol=1e-9)
        except AssertionError as exc:
            return f"{name}: {str(exc).splitlines()[0]}"
    return None


# The column each of the reference's verify kinds compares (the registry's against a source's).
VERIFY_COLUMNS = {"name_mismatch": "name", "birth_mismatch": "birth_date",
                  "division_code_mismatch": "division_code"}


def unchecked_kinds_dropped(outputs: dict[str, pd.DataFrame], readable: dict[str, list[str]],
                            params: Any) -> dict[str, pd.DataFrame]:
    """The reference's verify outputs without the kinds the caller cannot check: verify
    compares an element only where the caller reads it in the source and in the registry, and
    reports no kind (no column, no conflict) for an element it reads in neither. An element
    read in some of the sources only is beyond this oracle (the reference would compare it
    with nulls) and is refused."""
    from benchmarks.engines._common import verify_sources

    sources = verify_sources(params)
    outputs = dict(outputs)
    for kind, column in VERIFY_COLUMNS.items():
        held = [column in readable.get(table, []) for table in sources]
        if all(held) and column in readable.get("residents", []):
            continue
        if any(held) and column in readable.get("residents", []):
            raise ValueError(f"verify: {column!r} is readable in some sources only")
        outputs["summary"] = outputs["summary"].drop(columns=[kind])
        conflicts = outputs["conflicts"]
        outputs["conflicts"] = conflicts[conflicts["kind"] != kind]
    return outputs


def checked(oracle: Oracle, answer: Answer) -> str | None:
    """What is wrong with ``answer`` (None: it equals the oracle's); an oracle that cannot
    compute the answer counts as wrong, not as passed."""
    try:
        want = oracle.expected(answer)
    except Exception as exc:
        return f"the oracle failed: {type(exc).__name__}: {exc}"
    return mismatch(answer.outputs, want)


# -- the run -----------------------------------------------------------------------------------

def report(hub: LocalHub, answers: list[Answer], wall: float, args: argparse.Namespace
           ) -> dict[str, Any]:
    from hub.audit_verify import verify_log

    oracle = Oracle(hub)
    wrong = [(a, problem) for a in answers if a.error is None
             for problem in [checked(oracle, a)] if problem]
    failed = [a for a in answers if a.error is not None]
    audit = verify_log(hub.audit_dir, hub.audit_public)
    latencies = sorted(a.latency for a in answers)
    record = {
        "benchmark": "hub_load", "scale": args.scale, "analysts": len(ANALYSTS),
        "requests_per_analyst": args.requests, "requests": len(answers),
        "workers": args.workers, "threads_per_worker": args.threads,
        "processes": args.processes, "wall_s": wall,
        "requests_per_s": len(answers) / wall if wall else 0.0,
        "p50_s": statistics.median(latencies) if latencies else None,
        "p99_s": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        if latencies else None,
        "failed": len(failed), "wrong": len(wrong),
        "audit_entries": audit.entries, "audit_ok": audit.ok,
    }
    width = max(map(len, record))
    for name, value in record.items():
        shown = f"{value:.3f}" if isinstance(value, float) else value
        print(f"{name:<{width}} | {shown}")
    for answer in failed:
        print(f"FAILED {answer.user} {answer.request}: {answer.error}", file=sys.stderr)
    for answer, problem in wrong:
        print(f"WRONG {answer.user} {answer.request}: {problem}", file=sys.stderr)
    if audit.entries != len(answers) or not audit.ok:
        print(f"AUDIT: {audit} for {len(answers)} requests", file=sys.stderr)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hub_load",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.005)
    parser.add_argument("--requests", type=int, default=6, help="requests per analyst")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="threads per worker")
    parser.add_argument("--processes", action="store_true",
                        help="worker processes (default: threads of this process)")
    parser.add_argument("--root", help="where data and the hub's files go (default: a temp dir)")
    parser.add_argument("--json", metavar="FILE", help="append the record as one JSON line")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        root = args.root or stack.enter_context(tempfile.TemporaryDirectory(prefix="hub-load-"))
        hub = stack.enter_context(local_hub(root, args.scale, workers=args.workers,
                                            threads=args.threads, processes=args.processes))
        answers, wall = run_load(hub, args.requests)
        record = report(hub, answers, wall, args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "a") as file:  # never overwrites earlier records
            file.write(json.dumps(record) + "\n")
    ok = not record["failed"] and not record["wrong"] and record["audit_ok"] and \
        record["audit_entries"] == record["requests"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

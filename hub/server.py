"""``govgrid serve``: the governed hub, an Arrow Flight service in front of the closed cluster.

The service holds the only client certificate of the TLS cluster. Every call carries a bearer
token (``authorization: Bearer <JWT>``) that :class:`_AuthFactory` verifies before any handler
runs; department, province and token purpose come only from that verified token. A request is
planned on a :class:`hub.views.GovernedSession`, which replaces every base table with its
scoped, masked view before planning, so SQL and the built-in jobs read only what the policy
lets the caller read. A job is built with :meth:`hub.views.GovernedSession.build`, which
decides its tables for that job: an aggregate grant (``jobs``, ``min_cell``) applies to the
jobs it lists only, and their outputs leave with small cells suppressed.

The protocol (what :mod:`hub.client` speaks):

- ``GetFlightInfo(command)``, ``command`` a JSON object: ``{"kind": "sql", "query": ...}`` or
  ``{"kind": "job", "job": NAME, "params": {...}}``, with an optional ``"purpose"``. The
  request is decided and planned, its computation starts on the cluster, and the answer's
  ``app_metadata`` holds ``{"request": ID, "outputs": [...]}`` and one endpoint per output.
- ``DoGet(ticket "ID/OUTPUT")``: the first fetch of a request waits for it, re-decides the
  policy (a grant that expired meanwhile returns nothing), turns every output into an Arrow
  IPC stream, hashes it, and writes the request's one audit entry; only once the entry is on
  disk do the record batches leave. The request's other outputs are then fetched without a
  second entry; outputs left unfetched are dropped after ``request_ttl``.
- Actions: ``catalog`` (body ``{"purpose"}``: the tables the caller may see), ``status`` and
  ``cancel`` (body ``{"request": ID}``). A cancelled request stops on the cluster.

Audit: one entry per request (``catalog``, ``sql``, ``job``): allowed, denied, refused as
invalid, unauthenticated, cancelled, failed, or abandoned unfetched. A request whose entry
cannot be written returns nothing. ``status`` polls are not entries of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from compute.session import GRAPH_LOCK
from hub.audit import RAW_ID, AuditLog
from hub.exceptions import AccessDenied, AuditError, AuthenticationError
from hub.identity import DEFAULT_AUDIENCE, Identity, verify
from hub.policy import Policy

AUTH_HEADER = "authorization"
BEARER = "bearer "
REQUEST_TTL = 600.0  # seconds a request's results wait for their fetch
POLL = 0.05  # seconds between checks for a cancelled call while a request computes
MAX_COMMAND = 1 << 20  # bytes of a request's JSON command
MAX_REASON = 500  # characters of a reason written to the audit log
# Dask graphs are built (planned, optimised, persisted) one at a time under GRAPH_LOCK (see
# compute.session); they run concurrently.


def fingerprint(text: str) -> str:
    """SHA-256, hex, of a query's text (or a job's canonical JSON): the audit never holds it."""
    return hashlib.sha256(text.encode()).hexdigest()


def ipc_stream(table: pa.Table) -> pa.Buffer:
    """``table`` as one Arrow IPC stream: what the audit's result hash covers."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def result_hash(table: pa.Table) -> str:
    """SHA-256, hex, of ``table``'s Arrow IPC stream (see :func:`ipc_stream`)."""
    return hashlib.sha256(ipc_stream(table)).hexdigest()


def scrub(text: str) -> str:
    """``text`` cut to :data:`MAX_REASON` characters, anything shaped like a raw resident ID
    replaced, so that a reason quoting a query can always be audited."""
    return RAW_ID.sub("<resident-id>", str(text))[:MAX_REASON]


class _Refused(Exception):
    """A request refused before computing: audited as a denial, then sent as ``error``."""

    def __init__(self, reason: str, error: type[flight.FlightError]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclass
class _Request:
    """A request planned and computing, until its results are fetched or it ends otherwise."""

    id: str
    identity: Identity
    purpose: str | None
    fingerprint: str
    job: Any  # compute.jobs.base.Job over a governed snapshot
    outputs: list[str]
    persisted: list[Any]  # the outputs persisted on the cluster
    futures: list[Any]  # their partitions' futures
    created: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    cancel: threading.Event = field(default_factory=threading.Event)
    state: str = "running"  # running, released, cancelled, failed, denied
    error: tuple[type[flight.FlightError], str] | None = None
    released: dict[str, pa.Table] = field(default_factory=dict)
    released_at: float = 0.0

    def owned_by(self, identity: Identity) -> bool:
        return (self.identity.user, self.identity.department) == (
            identity.user, identity.department)


class _Auth(flight.ServerMiddleware):
    def __init__(self, identity: Identity) -> None:
        self.identity = identity


class _AuthFactory(flight.ServerMiddlewareFactory):
    """Verifies the bearer token of every call; a call without a valid one never reaches a
    handler, and its refusal is audited."""

    def __init__(self, service: HubService) -> None:
        self.service = service

    def start_call(self, info: flight.CallInfo, headers: Mapping[str, list]) -> _Auth:
        values = headers.get(AUTH_HEADER) or []
        try:
            if len(values) != 1:
                raise AuthenticationError("no bearer token in the call's headers")
            value = values[0]
            value = value.decode() if isinstance(value, bytes) else value
            if not value.lower().startswith(BEARER):
                raise AuthenticationError("the authorization header is not a bearer token")
            identity = verify(value[len(BEARER):].strip(), self.service.token_key,
                              self.service.audience)
        except (AuthenticationError, UnicodeDecodeError) as exc:
            with contextlib.suppress(AuditError):  # refused either way
                self.service.audit({"decision": "deny",
                                    "reason": scrub(f"unauthenticated {info.method}: {exc}")})
            raise flight.FlightUnauthenticatedError(f"unauthenticated: {exc}") from None
        return _Auth(identity)


class HubService(flight.FlightServerBase):
    """The governed service. Build it with :func:`open_service` (or directly in tests).

    ``session`` is a trusted :class:`compute.session.Session` on the closed cluster;
    ``clock()`` gives the time policy decisions use (aware UTC; tests move it).
    """

    def __init__(
        self,
        location: str,
        *,
        session: Any,
        policy: Policy,
        token_key: Any,
        audit_log: AuditLog,
        secret: bytes,
        tls_certificates: list[tuple[bytes, bytes]],
        audience: str = DEFAULT_AUDIENCE,
        clock: Callable[[], datetime] | None = None,
        request_ttl: float = REQUEST_TTL,
    ) -> None:
        if not tls_certificates:
            raise ValueError("the hub serves over TLS only: give its certificate and key")
        super().__init__(
            location,
            tls_certificates=[flight.CertKeyPair(cert, key) for cert, key in tls_certificates],
            middleware={"auth": _AuthFactory(self)},
        )
        self.session = session
        self.policy = policy
        self.token_key = token_key
        self.audience = audience
        self.audit_log = audit_log
        self.secret = secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self.request_ttl = request_ttl
        self._requests: dict[str, _Request] = {}
        self._lock = threading.Lock()
        self._owned_cluster: Any = None  # closed by close() when open_service started it

    def close(self) -> None:
        """Stop serving, close the audit log, and disconnect from (or stop) the cluster."""
        try:
            self.shutdown()
        finally:
            self.audit_log.close()
            if self._owned_cluster is not None:
                self._owned_cluster.close()

    # -- audit -------------------------------------------------------------------------------

    def audit(self, entry: Mapping[str, Any]) -> None:
        """Write one entry; raises AuditError when it is not on disk."""
        self.audit_log.record(entry)

    def _who(self, identity: Identity, purpose: str | None) -> dict[str, Any]:
        return {"user": identity.user, "department": identity.department,
                "token_id": identity.token_id, "purpose": purpose}

    def _audit_or_refuse(self, entry: Mapping[str, Any]) -> None:
        try:
            self.audit(entry)
        except AuditError as exc:
            raise flight.FlightServerError(
                f"the audit entry could not be written, so nothing is returned: {exc}"
            ) from None

    # -- Flight handlers -----------------------------------------------------------------------

    def get_flight_info(self, context: flight.ServerCallContext,
                        descriptor: flight.FlightDescriptor) -> flight.FlightInfo:
        identity = self._identity(context)
        self._sweep()
        entry = self._who(identity, None)
        try:
            command = _command(descriptor)
            purpose = self._purpose(identity, command.get("purpose"))
            entry["purpose"] = purpose
            text = _request_text(command)
            entry["query_fingerprint"] = fingerprint(text)
            job = self._plan(identity, purpose, command)
        except _Refused as refused:
            self._audit_or_refuse({**entry, "decision": "deny", "reason": scrub(refused.reason)})
            raise refused.error(refused.reason) from None
        try:
            request = self._submit(identity, purpose, entry["query_fingerprint"], job)
        except Exception as exc:  # the cluster refused the graph: nothing runs, audited
            reason = scrub(f"could not be submitted: {type(exc).__name__}: {exc}")
            self._audit_or_refuse({**entry, "decision": "allow", "reason": reason,
                                   "rows": 0, "bytes": 0})
            raise flight.FlightServerError(reason) from None
        metadata = json.dumps({"request": request.id, "outputs": request.outputs})
        endpoints = [flight.FlightEndpoint(f"{request.id}/{output}".encode(), [])
                     for output in request.outputs]
        return flight.FlightInfo(pa.schema([]), descriptor, endpoints, -1, -1,
                                 app_metadata=metadata.encode())

    def do_get(self, context: flight.ServerCallContext,
               ticket: flight.Ticket) -> flight.RecordBatchStream:
        identity = self._identity(context)
        request_id, _, output = ticket.ticket.decode(errors="replace").partition("/")
        with self._lock:
            request = self._requests.get(request_id)
        if request is None or not request.owned_by(identity) or output not in request.outputs:
            reason = "no such request of this caller (unknown, foreign, ended or fetched)"
            self._audit_or_refuse({**self._who(identity, None), "decision": "deny",
                                   "reason": reason})
            raise flight.FlightUnauthorizedError(reason)
        with request.lock:
            if request.state == "running":
                self._release(request, context)
            if request.error is not None:
                self._forget(request)
                error, message = request.error
                raise error(message)
            table = request.released.pop(output, None)
            if not request.released:
                self._forget(request)
        if table is None:
            raise flight.FlightUnauthorizedError(f"output {output!r} was fetched already")
        return flight.RecordBatchStream(table)

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [("catalog", "the tables the caller may see, as JSON"),
                ("status", "a request's state and progress"),
                ("cancel", "stop a request; nothing of it is returned")]

    def do_action(self, context: flight.ServerCallContext, action: flight.Action):
        identity = self._identity(context)
        self._sweep()
        try:
            body = json.loads(action.body.to_pybytes() or b"{}") if action.body else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise flight.FlightServerError("invalid request: an action's body is a JSON object")
        if action.type == "catalog":
            result = self._catalog(identity, body.get("purpose"))
        elif action.type in ("status", "cancel"):
            request = self._own_request(identity, body.get("request"))
            result = (self._status(request) if action.type == "status"
                      else self._cancel(request))
        else:
            raise flight.FlightServerError(f"invalid request: unknown action {action.type!r}")
        return [json.dumps(result, default=str).encode()]

    def shutdown(self) -> None:
        """Stop serving; requests never fetched are audited as abandoned."""
        super().shutdown()
        with self._lock:
            pending = list(self._requests.values())
        for request in pending:
            self._abandon(request, "the service stopped before the result was fetched")

    # -- requests ------------------------------------------------------------------------------

    def _identity(self, context: flight.ServerCallContext) -> Identity:
        auth = context.get_middleware("auth")
        if auth is None:  # cannot happen: the middleware refuses such calls
            raise flight.FlightUnauthenticatedError("unauthenticated")
        return auth.identity

    def _purpose(self, identity: Identity, stated: Any) -> str | None:
        """The request's purpose: the token's, which a request may repeat but not change."""
        if stated is not None and (not isinstance(stated, str) or not stated.strip()):
            raise _Refused("invalid request: purpose must be a non-empty string",
                           flight.FlightServerError)
        if identity.purpose is not None and stated not in (None, identity.purpose):
            raise _Refused(f"the token is issued for purpose {identity.purpose!r}; the request "
                           f"states {stated!r}", flight.FlightUnauthorizedError)
        return stated if stated is not None else identity.purpose

    def _governed(self, identity: Identity, purpose: str | None) -> Any:
        from hub.views import GovernedSession

        return GovernedSession(self.session, self.policy, identity, purpose, self.clock(),
                               self.secret)

    def _plan(self, identity: Identity, purpose: str | None, command: dict) -> Any:
        """The request's job over governed views; refusals raise :class:`_Refused`."""
        from compute.exceptions import GovgridError
        from compute.jobs import JOBS

        try:
            governed = self._governed(identity, purpose)
            with GRAPH_LOCK:
                if command["kind"] == "sql":
                    return governed.sql_job(command["query"])
                spec = JOBS[command["job"]]
                params = spec.params(**command.get("params", {}))
                # Decided for this job: an aggregate grant applies to the jobs it lists
                # only, and then the outputs are suppressed (hub.views.guard_aggregate).
                return governed.build(command["job"], params)
        except AccessDenied as exc:
            raise _Refused(f"denied: {exc}", flight.FlightUnauthorizedError) from None
        except (GovgridError, ValueError, TypeError, KeyError) as exc:
            raise _Refused(f"invalid request: {type(exc).__name__}: {exc}",
                           flight.FlightServerError) from None
        except Exception as exc:  # a bug while planning: refused and audited all the same
            raise _Refused(f"the request could not be planned: {type(exc).__name__}: {exc}",
                           flight.FlightServerError) from None

    def _submit(self, identity: Identity, purpose: str | None, print_: str, job: Any
                ) -> _Request:
        from distributed import futures_of

        # Under _lock too, with _drop's check: a shared key is never cancelled under us.
        with GRAPH_LOCK, self._lock:
            frames = [frame.to_backend("pandas") for frame in job.outputs.values()]
            persisted = self.session.client.persist(frames)
            request = _Request(
                id=secrets.token_urlsafe(16), identity=identity, purpose=purpose,
                fingerprint=print_, job=job, outputs=list(job.outputs), persisted=persisted,
                futures=[future for frame in persisted for future in futures_of(frame)],
                created=time.monotonic(),
            )
            self._requests[request.id] = request
        return request

    def _own_request(self, identity: Identity, request_id: Any) -> _Request:
        with self._lock:
            request = self._requests.get(request_id) if isinstance(request_id, str) else None
        if request is None or not request.owned_by(identity):
            raise flight.FlightUnauthorizedError("no such request of this caller")
        return request

    def _release(self, request: _Request, context: flight.ServerCallContext) -> None:
        """Wait for ``request``, re-decide, audit, and keep its outputs for the fetches.
        Holds ``request.lock``. Sets ``request.error`` instead when nothing may leave."""
        from distributed import wait

        while not all(future.done() for future in request.futures):
            if request.cancel.is_set() or context.is_cancelled():
                self._end(request, "cancelled", "cancelled by the caller; nothing returned",
                          flight.FlightCancelledError)
                return
            with contextlib.suppress(TimeoutError):
                wait(request.futures, timeout=POLL)
        entry = {**self._who(request.identity, request.purpose),
                 "query_fingerprint": request.fingerprint}
        try:
            with GRAPH_LOCK:
                futures = self.session.client.compute(request.persisted)
            computed = self.session.client.gather(futures)
        except Exception as exc:  # a failed task: nothing returned, audited
            self._end(request, "failed", f"{request.job.name} failed: {type(exc).__name__}: "
                                         f"{exc}", flight.FlightServerError)
            return
        snapshot = request.job.snapshot
        try:
            snapshot.recheck(self.clock())
        except AccessDenied as exc:
            self._end(request, "denied", f"denied when fetched: {exc}",
                      flight.FlightUnauthorizedError, decision="deny")
            return
        tables = {}
        for output, frame in zip(request.outputs, computed, strict=True):
            stream = ipc_stream(pa.Table.from_pandas(frame.reset_index(drop=True),
                                                     preserve_index=False))
            tables[output] = (pa.ipc.open_stream(stream).read_all(), stream)
        entry.update(_what_was_read(request.job, snapshot.decisions))
        entry.update(
            decision="allow",
            rows={output: table.num_rows for output, (table, _) in tables.items()},
            bytes={output: stream.size for output, (_, stream) in tables.items()},
            result_hash={output: hashlib.sha256(stream).hexdigest()
                         for output, (_, stream) in tables.items()},
        )
        if request.cancel.is_set():
            self._end(request, "cancelled", "cancelled by the caller; nothing returned",
                      flight.FlightCancelledError)
            return
        try:
            self.audit(entry)
        except AuditError as exc:
            request.state = "failed"
            request.error = (flight.FlightServerError, "the audit entry could not be written, "
                             f"so nothing is returned: {exc}")
            self._drop(request)
            return
        request.released = {output: table for output, (table, _) in tables.items()}
        request.released_at = time.monotonic()
        request.state = "released"
        self._drop(request)

    def _end(self, request: _Request, state: str, reason: str,
             error: type[flight.FlightError], decision: str = "allow") -> None:
        """End ``request`` with nothing returned, auditing why. Holds ``request.lock``.
        The caller reads the reason as audited: a failed task's message may quote data."""
        reason = scrub(reason)
        request.state = state
        request.error = (error, reason)
        self._drop(request, cancel=True)
        entry = {**self._who(request.identity, request.purpose),
                 "query_fingerprint": request.fingerprint, "decision": decision,
                 "reason": reason, "rows": 0, "bytes": 0,
                 "versions": dict(request.job.versions)}
        try:
            self.audit(entry)
        except AuditError as exc:
            request.error = (flight.FlightServerError, f"{reason}; audit failed: {exc}")

    def _drop(self, request: _Request, cancel: bool = False) -> None:
        """Let go of the request's data on the cluster; with ``cancel``, also stop what still
        runs of it. Requests for the same view share Dask keys, so a key another live
        request holds is released, never cancelled (that would cancel the other's too)."""
        futures, request.futures, request.persisted = request.futures, [], []
        if not cancel:
            return
        with self._lock:
            shared = {future.key for other in self._requests.values() if other is not request
                      for future in other.futures}
            alone = [future for future in futures if future.key not in shared]
            with contextlib.suppress(Exception):  # the cluster is gone: nothing left to stop
                self.session.client.cancel(alone)

    def _forget(self, request: _Request) -> None:
        with self._lock:
            self._requests.pop(request.id, None)

    def _status(self, request: _Request) -> dict[str, Any]:
        futures = list(request.futures)
        done = sum(future.done() for future in futures)
        return {"request": request.id, "state": request.state, "done": done,
                "total": len(futures), "outputs": request.outputs}

    def _cancel(self, request: _Request) -> dict[str, Any]:
        request.cancel.set()
        if request.lock.acquire(blocking=False):  # else a fetch is waiting and ends it
            try:
                if request.state == "running":
                    self._end(request, "cancelled", "cancelled by the caller; nothing returned",
                              flight.FlightCancelledError)
                    self._forget(request)
            finally:
                request.lock.release()
        return {"request": request.id, "state": "cancelled"}

    def _abandon(self, request: _Request, reason: str) -> None:
        with request.lock:
            if request.state == "running":
                self._end(request, "cancelled", reason, flight.FlightCancelledError)
        self._forget(request)

    def _sweep(self) -> None:
        """End requests nobody fetched within ``request_ttl``; drop released leftovers."""
        now = time.monotonic()
        with self._lock:
            stale = [r for r in self._requests.values()
                     if now - max(r.created, r.released_at) > self.request_ttl]
        for request in stale:
            self._abandon(request, f"not fetched within {self.request_ttl:.0f} s; "
                                   "nothing returned")

    def _catalog(self, identity: Identity, stated: Any) -> list[dict]:
        from hub.views import catalog_for

        entry = self._who(identity, None)
        try:
            purpose = self._purpose(identity, stated)
        except _Refused as refused:
            self._audit_or_refuse({**entry, "decision": "deny", "reason": scrub(refused.reason)})
            raise refused.error(refused.reason) from None
        listing = catalog_for(self.session.catalog, self.policy, identity, purpose, self.clock())
        self._audit_or_refuse({**entry, "purpose": purpose, "decision": "allow",
                               "reason": "catalog", "rows": len(listing)})
        return listing


def _command(descriptor: flight.FlightDescriptor) -> dict[str, Any]:
    if descriptor.descriptor_type != flight.DescriptorType.CMD:
        raise _Refused("invalid request: a request is a command descriptor",
                       flight.FlightServerError)
    if len(descriptor.command) > MAX_COMMAND:
        raise _Refused("invalid request: the command is too long", flight.FlightServerError)
    try:
        command = json.loads(descriptor.command)
    except ValueError:
        command = None
    kind = command.get("kind") if isinstance(command, dict) else None
    if kind == "sql" and isinstance(command.get("query"), str):
        allowed = {"kind", "query", "purpose"}
    elif kind == "job" and isinstance(command.get("job"), str) and isinstance(
            command.get("params", {}), dict):
        allowed = {"kind", "job", "params", "purpose"}
    else:
        raise _Refused('invalid request: a command is {"kind": "sql", "query": ...} or '
                       '{"kind": "job", "job": ..., "params": {...}}', flight.FlightServerError)
    unknown = set(command) - allowed
    if unknown:
        # Department, province and the like come from the token only: never accept them here.
        raise _Refused(f"invalid request: unknown fields {sorted(unknown)}",
                       flight.FlightServerError)
    return command


def _request_text(command: dict[str, Any]) -> str:
    """What the audit fingerprints: the query's text, or the job and its parameters."""
    if command["kind"] == "sql":
        return command["query"]
    return json.dumps({"job": command["job"], "params": command.get("params", {})},
                      sort_keys=True, separators=(",", ":"), default=str)


def _what_was_read(job: Any, decisions: Mapping[str, Any]) -> dict[str, Any]:
    """The audit's tables, columns, grants, masks, scopes, reasons and versions of ``job``."""
    tables = {
        table: {"projected": read["projected"],
                "filter_only": [c for c in read["filtered"] if c not in read["projected"]]}
        for table, read in job.snapshot.columns_read().items()
    }
    grants = sorted({d.grant.name for d in decisions.values() if d.grant is not None})
    masks = {f"{table}.{column}": decisions[table].masks[column]
             for table, read in sorted(tables.items())
             for column in (*read["projected"], *read["filter_only"])
             if decisions[table].masks.get(column, "none") != "none"}
    scopes = {table: d.scope_province for table, d in decisions.items()
              if d.scope_province is not None}
    reason = "; ".join(f"{table}: {d.reason}" for table, d in sorted(decisions.items()))
    return {"tables": tables, "grants": grants,
            "masks": masks, "scopes": scopes,
            "reason": scrub(reason), "versions": dict(job.versions)}


# -- building the service from files (govgrid serve) ------------------------------------------

def read_secret(path: str | Path) -> bytes:
    """The pseudonym secret: a file of at least 32 bytes."""
    from hub.exceptions import KeyFileError

    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read the pseudonym secret {path}: {exc.strerror}") from exc
    if len(secret) < 32:
        raise KeyFileError(f"the pseudonym secret {path} holds {len(secret)} bytes; at least 32")
    return secret


def connect_closed_cluster(address: str, security: Any, backend: str = "auto") -> Any:
    """Join the TLS scheduler at ``address`` with the service's credentials."""
    import dask

    import cluster
    from hub.tls import security_config

    if not address.startswith("tls://"):
        raise ValueError(f"the cluster is closed: its scheduler is at a tls:// address, "
                         f"not {address!r}")
    # cluster.connect builds its Client's Security from Dask's config.
    with dask.config.set(security_config(security)):
        return cluster.connect(address, backend=backend)


INSECURE_WARNING = (
    "govgrid serve: WARNING: no --scheduler given, so a local cluster WITHOUT TLS is started. "
    "This insecure mode is for development only: any process on this machine can reach its "
    "scheduler and read every table. Serve real data in front of a closed cluster "
    "(--scheduler tls://... --cluster-ca/--cluster-cert/--cluster-key; see the README)."
)


def open_service(args: Any) -> HubService:
    """The service ``govgrid serve`` runs, from its parsed arguments (see hub/commands.py)."""
    import sys

    import cluster
    from compute.session import Session
    from compute.tables import Catalog
    from hub.exceptions import KeyFileError
    from hub.identity import load_private_key, load_public_key
    from hub.policy import load_policy
    from hub.tls import cluster_security

    catalog = Catalog.load(args.data)
    policy = load_policy(args.policy)
    for note in policy.notes:
        print(f"govgrid serve: note: {note}", file=sys.stderr)
    token_key = load_public_key(args.token_key)
    audit_key = load_private_key(args.audit_key)
    secret = read_secret(args.secret_file)
    try:
        tls = (Path(args.tls_cert).read_bytes(), Path(args.tls_key).read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read the service's TLS certificate or key: {exc}") from exc
    credentials = (args.cluster_ca, args.cluster_cert, args.cluster_key)
    if args.scheduler:
        if not all(credentials):
            raise ValueError("the cluster is closed: --scheduler needs --cluster-ca, "
                             "--cluster-cert and --cluster-key")
        handle = connect_closed_cluster(args.scheduler, cluster_security(*credentials),
                                        backend=args.backend)
    else:
        if any(credentials):
            raise ValueError("--cluster-ca/--cluster-cert/--cluster-key need --scheduler")
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
        handle = cluster.start(backend=args.backend)
    try:
        audit_dir = Path(args.audit)
        audit_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        audit_log = AuditLog(audit_dir, audit_key)
        try:
            service = HubService(
                f"grpc+tls://{args.host}:{args.port}", session=Session(catalog, handle),
                policy=policy, token_key=token_key, audit_log=audit_log, secret=secret,
                tls_certificates=[tls], audience=args.audience)
        except BaseException:
            audit_log.close()
            raise
    except BaseException:
        handle.close()
        raise
    service._owned_cluster = handle
    return service

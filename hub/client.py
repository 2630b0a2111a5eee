"""The analyst's side of the governed hub: ``hub.connect(url, token=...)``.

    from hub.client import connect
    with connect("grpc+tls://hub.internal:8815", token=TOKEN, ca="ca.pem") as hub:
        hub.catalog()                                   # what this caller may see
        frame = hub.sql("SELECT ...", purpose="elderly-allowance-2026")
        result = hub.run("rollup", reference_date="2025-12-01")
        result["population"]

Results come back as pandas DataFrames (``as_arrow=True``: Arrow tables), with a progress
bar (a widget in a notebook) while the cluster computes; Ctrl-C or :meth:`Request.cancel`
stops a request. Flight's errors are translated here: a refused token raises
:class:`~hub.exceptions.AuthenticationError`, a denial :class:`~hub.exceptions.AccessDenied`,
anything else the hub refuses or fails
:class:`~hub.exceptions.HubError` with the hub's reason.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.flight as flight

from hub.exceptions import AccessDenied, AuthenticationError, HubError

POLL = 0.2  # seconds between progress polls


@dataclass
class HubResult:
    """A job's outputs (pandas or Arrow) and the request id the audit log knows it by."""

    job: str
    request: str
    outputs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, output: str) -> Any:
        return self.outputs[output]

    @property
    def rows_out(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.outputs.items()}


@contextmanager
def _translated() -> Iterator[None]:
    """Flight's errors as the hub's (httpx style: translated at the boundary)."""
    try:
        yield
    except flight.FlightUnauthenticatedError as exc:
        raise AuthenticationError(_message(exc)) from exc
    except flight.FlightUnauthorizedError as exc:
        raise AccessDenied(_message(exc)) from exc
    except flight.FlightCancelledError as exc:
        raise HubError(f"cancelled: {_message(exc)}") from exc
    except flight.FlightUnavailableError as exc:
        raise HubError(f"the hub is unreachable: {_message(exc)}") from exc
    except (flight.FlightError, pa.ArrowException) as exc:
        raise HubError(_message(exc)) from exc


def _message(exc: Exception) -> str:
    """The server's message without gRPC's decoration."""
    text = str(exc).strip()
    for marker in (". Detail:", ". gRPC client debug context:", ". Client context:"):
        text = text.split(marker)[0]
    return text


class Request:
    """A submitted request: its outputs are computing on the hub's cluster."""

    def __init__(self, hub: HubClient, info: flight.FlightInfo, label: str) -> None:
        self._hub = hub
        self.label = label
        metadata = json.loads(info.app_metadata or b"{}")
        self.id: str = metadata["request"]
        self.outputs: list[str] = metadata["outputs"]
        self._tickets = {output: endpoint.ticket
                         for output, endpoint in zip(self.outputs, info.endpoints, strict=True)}

    def status(self) -> dict[str, Any]:
        """The hub's view: ``state``, ``done`` and ``total`` partitions."""
        return self._hub._action("status", {"request": self.id})

    def cancel(self) -> None:
        """Stop the request; nothing of it is returned (and the audit log says so)."""
        self._hub._action("cancel", {"request": self.id})

    def wait(self, progress: bool = True) -> None:
        """Wait until the cluster is done, showing a bar; Ctrl-C cancels the request."""
        bar = None
        try:
            while True:
                status = self.status()
                if progress and bar is None and status["total"]:
                    from tqdm.auto import tqdm

                    bar = tqdm(total=status["total"], desc=self.label, unit="part")
                if bar is not None:
                    bar.update(status["done"] - bar.n)
                if status["state"] != "running" or status["done"] >= status["total"]:
                    return
                time.sleep(POLL)
        except KeyboardInterrupt:
            self.cancel()
            raise
        finally:
            if bar is not None:
                bar.close()

    def fetch(self, as_arrow: bool = False) -> dict[str, Any]:
        """Every output, fetched (the hub re-decides and audits before anything leaves)."""
        outputs = {}
        try:
            for output, ticket in self._tickets.items():
                with _translated():
                    reader = self._hub._flight.do_get(ticket, self._hub._options)
                    table = reader.read_all()
                outputs[output] = table if as_arrow else table.to_pandas()
        except KeyboardInterrupt:
            self.cancel()
            raise
        return outputs

    def result(self, as_arrow: bool = False, progress: bool = True) -> dict[str, Any]:
        self.wait(progress=progress)
        return self.fetch(as_arrow=as_arrow)


class HubClient:
    """A connection to ``govgrid serve``; every call carries the bearer token."""

    def __init__(self, url: str, token: str, ca: str | os.PathLike | bytes | None = None,
                 timeout: float | None = None) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("a token is required: ask your department for one")
        if not url.startswith("grpc+tls://"):
            raise ValueError(f"the hub is reached over TLS: grpc+tls://HOST:PORT, not {url!r}")
        root = Path(ca).read_bytes() if isinstance(ca, str | os.PathLike) else ca
        self.url = url
        with _translated():
            self._flight = flight.FlightClient(url, tls_root_certs=root)
        self._options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {token.strip()}".encode())], timeout=timeout)

    def catalog(self, purpose: str | None = None) -> pd.DataFrame:
        """The tables (and columns, masks) this caller may read, one row per table."""
        return pd.DataFrame(self._action("catalog", {"purpose": purpose}))

    def submit_sql(self, query: str, purpose: str | None = None) -> Request:
        command = {"kind": "sql", "query": query}
        return self._submit(command, purpose, "sql")

    def submit(self, job: str, purpose: str | None = None, **params: Any) -> Request:
        command = {"kind": "job", "job": job, "params": _jsonable(params)}
        return self._submit(command, purpose, job)

    def sql(self, query: str, purpose: str | None = None, as_arrow: bool = False,
            progress: bool = True) -> pd.DataFrame | pa.Table:
        """The result of ``query`` over the views this caller may read."""
        request = self.submit_sql(query, purpose)
        return request.result(as_arrow=as_arrow, progress=progress)["result"]

    def run(self, job: str, purpose: str | None = None, as_arrow: bool = False,
            progress: bool = True, **params: Any) -> HubResult:
        """Run built-in ``job`` (verify, eligibility, integrity, rollup) with ``params``."""
        request = self.submit(job, purpose, **params)
        return HubResult(job, request.id, request.result(as_arrow=as_arrow, progress=progress))

    def close(self) -> None:
        self._flight.close()

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HubClient {self.url}>"

    def _submit(self, command: dict[str, Any], purpose: str | None, label: str) -> Request:
        if purpose is not None:
            command["purpose"] = purpose
        descriptor = flight.FlightDescriptor.for_command(json.dumps(command).encode())
        with _translated():
            info = self._flight.get_flight_info(descriptor, self._options)
        return Request(self, info, label)

    def _action(self, name: str, body: Mapping[str, Any]) -> Any:
        with _translated():
            results = list(self._flight.do_action(
                flight.Action(name, json.dumps(body).encode()), self._options))
        return json.loads(results[0].body.to_pybytes()) if results else None


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Job parameters as JSON: dates as ISO strings, tuples as lists."""
    def convert(value: Any) -> Any:
        if hasattr(value, "isoformat"):
            return value.isoformat()
        if isinstance(value, tuple | list):
            return [convert(item) for item in value]
        return value

    return {name: convert(value) for name, value in params.items()}


def connect(url: str, token: str, ca: str | os.PathLike | bytes | None = None,
            timeout: float | None = None) -> HubClient:
    """A client of the hub at ``url`` (``grpc+tls://HOST:PORT``) for the holder of ``token``;
    ``ca`` is the CA certificate (PEM path or bytes) that signed the hub's (default: the
    system's roots)."""
    return HubClient(url, token, ca=ca, timeout=timeout)

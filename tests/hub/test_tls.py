"""The closed cluster: only a certificate of the cluster's CA gets a client onto the scheduler."""

from __future__ import annotations

import asyncio
import socket
import ssl
import stat
import time

import pytest
from cryptography import x509
from distributed import Client, LocalCluster

from compute.cli import main
from hub.exceptions import KeyFileError
from hub.tls import ROLES, cluster_security, write_certificates

# A refused asynchronous Client leaves a coroutine distributed never awaits, when collected.
pytestmark = pytest.mark.filterwarnings(
    "ignore:coroutine 'wait_for' was never awaited:RuntimeWarning")
REFUSED = (OSError, TimeoutError)  # distributed's CommClosedError is an OSError


def connects(address: str, security=None) -> bool:
    """Whether a distributed Client gets onto the scheduler (asynchronous: no loop thread)."""
    async def attempt() -> None:
        client = Client(address, security=security, asynchronous=True, timeout=3)
        try:
            await client
        finally:
            await client.close()

    asyncio.run(attempt())
    return True


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return write_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def scheduler(certs):
    security = cluster_security(certs["ca"], certs["cluster"], certs["cluster-key"])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://",
                      host="127.0.0.1", security=security, dashboard_address=":0") as local:
        yield local.scheduler_address


def test_certificates_are_signed_by_the_ca_for_their_hosts(certs):
    ca = x509.load_pem_x509_certificate(certs["ca"].read_bytes())
    for role in ROLES:
        cert = x509.load_pem_x509_certificate(certs[role].read_bytes())
        cert.verify_directly_issued_by(ca)
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert stat.S_IMODE(certs[f"{role}-key"].stat().st_mode) == 0o600
    assert stat.S_IMODE(certs["ca-key"].stat().st_mode) == 0o600


def test_certificates_are_never_overwritten(certs):
    with pytest.raises(KeyFileError, match="cannot create"):
        write_certificates(certs["ca"].parent)


def test_cluster_security_requires_encryption_and_existing_files(certs, tmp_path):
    security = cluster_security(certs["ca"], certs["service"], certs["service-key"])
    assert security.require_encryption
    assert security.tls_client_cert == str(certs["service"])
    with pytest.raises(KeyFileError, match="key"):
        cluster_security(certs["ca"], certs["service"], tmp_path / "missing.pem")


def test_a_client_with_the_services_certificate_computes(scheduler, certs):
    security = cluster_security(certs["ca"], certs["service"], certs["service-key"])
    assert connects(scheduler, security)
    with Client(scheduler, security=security, timeout=10) as client:
        assert client.submit(sum, [1, 2, 3]).result() == 6


def test_a_notebook_client_without_certificates_cannot_connect(scheduler):
    # distributed refuses to even try TLS without a certificate (TypeError) ...
    with pytest.raises((*REFUSED, TypeError)):
        connects(scheduler)
    with pytest.raises(REFUSED):  # plain TCP to the TLS port
        connects(scheduler.replace("tls://", "tcp://"))


def test_the_scheduler_itself_refuses_a_tls_peer_without_a_certificate(scheduler, certs,
                                                                        caplog):
    # ... so speak TLS by hand, trusting the cluster's CA but presenting no certificate.
    host, port = scheduler.removeprefix("tls://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=str(certs["ca"]))
    context.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        try:
            with context.wrap_socket(raw) as tls:
                tls.sendall(b"\0" * 8)  # TLS 1.3: the refusal arrives with the first read
                answer = tls.recv(1)
        except (ssl.SSLError, ConnectionError) as exc:
            answer = exc
    assert answer == b"" or isinstance(answer, ssl.SSLError | ConnectionError), answer
    deadline = time.monotonic() + 10
    while "did not return a certificate" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "did not return a certificate" in caplog.text


def test_a_client_with_another_cas_certificate_cannot_connect(scheduler, tmp_path):
    other = write_certificates(tmp_path / "other")
    with pytest.raises(REFUSED):
        connects(scheduler, cluster_security(other["ca"], other["service"], other["service-key"]))


def test_a_client_that_trusts_the_ca_but_has_no_certificate_cannot_connect(scheduler, certs,
                                                                          tmp_path):
    # A certificate of its own CA, with the cluster's CA trusted: the scheduler checks it.
    other = write_certificates(tmp_path / "mixed")
    with pytest.raises(REFUSED):
        connects(scheduler, cluster_security(certs["ca"], other["service"], other["service-key"]))


def test_govgrid_hub_certs_writes_every_file(tmp_path, capsys):
    assert main(["hub", "certs", "--out", str(tmp_path / "c"), "--host", "10.0.0.5",
                 "--host", "scheduler.hub.internal"]) == 0
    written = {path.name for path in (tmp_path / "c").iterdir()}
    assert {"ca.pem", "ca-key.pem", "service.pem", "cluster-key.pem", "flight.pem"} <= written
    cert = x509.load_pem_x509_certificate((tmp_path / "c" / "cluster.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["scheduler.hub.internal"]
    assert "ca-key.pem offline" in capsys.readouterr().out

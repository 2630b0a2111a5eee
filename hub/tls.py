"""Certificates of the closed cluster and of the hub service, and distributed's ``Security``.

The cluster is closed: scheduler and workers accept only TLS connections whose client presents
a certificate signed by the cluster's own CA (mutual authentication). Only the hub service and
the platform team hold such a certificate; an analyst's notebook holds none, so it cannot reach
the scheduler, and every analyst goes through ``govgrid serve``.

    paths = write_certificates("certs/", hosts=["127.0.0.1", "scheduler.hub.internal"])
    security = cluster_security(paths["ca"], paths["service"], paths["service-key"])
    client = distributed.Client("tls://scheduler.hub.internal:8786", security=security)

:func:`write_certificates` (``govgrid hub certs --out DIR``) makes a CA and one certificate per
role: ``cluster`` (scheduler and workers), ``service`` (the hub's client certificate for the
cluster), ``platform`` (the platform team's) and ``flight`` (the hub's Flight endpoint, which
analysts' clients check against ``ca.pem``). Keys are ECDSA P-256, written mode 0600, never
overwritten. For tests and set-up; a production hub may use certificates from its own PKI.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.exceptions import KeyFileError

if TYPE_CHECKING:
    from distributed import Security

# The certificates write_certificates makes: role -> extended key usages.
ROLES = {
    "cluster": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    "service": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "platform": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "flight": (ExtendedKeyUsageOID.SERVER_AUTH,),
}
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_DAYS = 365


def make_ca(name: str = "govgrid cluster CA", days: int = DEFAULT_DAYS
            ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A self-signed CA certificate and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    name: str,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    usages: Sequence[x509.ObjectIdentifier] = ROLES["cluster"],
    days: int = DEFAULT_DAYS,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for ``name`` signed by the CA, valid for ``hosts`` (names or IP addresses)."""
    if not name or not isinstance(name, str):
        raise ValueError(f"a certificate needs a name, not {name!r}")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=False, crl_sign=False,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_certificates(
    directory: str | os.PathLike, hosts: Iterable[str] = DEFAULT_HOSTS,
    days: int = DEFAULT_DAYS,
) -> dict[str, Path]:
    """Write ``ca.pem`` (and ``ca-key.pem``) and ``ROLE.pem`` / ``ROLE-key.pem`` for each role
    of :data:`ROLES`; keys mode 0600. Returns the paths by name ("ca", "service-key", ...).
    Refuses to overwrite any file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hosts = tuple(hosts)
    ca_cert, ca_key = make_ca(days=days)
    files = {"ca": (certificate_pem(ca_cert), 0o644), "ca-key": (key_pem(ca_key), 0o600)}
    for role, usages in ROLES.items():
        cert, key = issue_certificate(ca_cert, ca_key, f"govgrid {role}", hosts, usages, days)
        files[role] = (certificate_pem(cert), 0o644)
        files[f"{role}-key"] = (key_pem(key), 0o600)
    paths = {}
    for name, (data, mode) in files.items():
        path = directory / f"{name}.pem"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:
            raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        paths[name] = path
    return paths


def cluster_security(
    ca: str | os.PathLike, cert: str | os.PathLike, key: str | os.PathLike
) -> Security:
    """distributed's ``Security`` for a member of the closed cluster: TLS required, the peer's
    certificate checked against ``ca``, and ``cert``/``key`` presented in every role (client,
    scheduler, worker), so the same object serves the hub service and the cluster itself."""
    from distributed import Security

    paths = {}
    for what, path in (("CA certificate", ca), ("certificate", cert), ("key", key)):
        if not Path(path).is_file():
            raise KeyFileError(f"cluster TLS {what} {path} is not a readable file")
        paths[what] = str(path)
    cert_path, key_path = paths["certificate"], paths["key"]
    return Security(
        require_encryption=True,
        tls_ca_file=paths["CA certificate"],
        tls_client_cert=cert_path, tls_client_key=key_path,
        tls_scheduler_cert=cert_path, tls_scheduler_key=key_path,
        tls_worker_cert=cert_path, tls_worker_key=key_path,
    )


def security_config(security: Security) -> dict[str, object]:
    """``security`` as Dask config keys, for code that builds its own ``Security()`` from the
    config (``cluster.connect`` does)."""
    return {
        "distributed.comm.require-encryption": True,
        "distributed.comm.tls.ca-file": security.tls_ca_file,
        "distributed.comm.tls.client.cert": security.tls_client_cert,
        "distributed.comm.tls.client.key": security.tls_client_key,
    }

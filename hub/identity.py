"""Who is asking: signed tokens, their keys, and the identity a verified token carries.

A token is a JWT signed with Ed25519 (``EdDSA``), the one algorithm the hub accepts: pinning it
rules out ``alg: none`` and the key-confusion attack (an HMAC token whose secret is the public
key). ``exp``, ``iat``, ``sub``, ``aud`` and ``jti`` are required. Department, province and
purpose are read only from a token that verified, never from anything else the client sends.

    private = generate_key()
    token = issue(private, department="civil affairs", user="wang.li", province="11",
                  expires=timedelta(hours=8))
    identity = verify(token, private.public_key())
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.exceptions import AuthenticationError, KeyFileError
from kernels.resident_id import PROVINCES

ALGORITHM = "EdDSA"
DEFAULT_AUDIENCE = "govgrid-hub"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "aud", "jti")
# Tolerated clock difference between the issuing and the verifying machine.
LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class Identity:
    """The caller, as a verified token states it."""

    user: str
    department: str
    province: str | None
    purpose: str | None
    token_id: str
    expires_at: datetime


def generate_key() -> Ed25519PrivateKey:
    """A new Ed25519 signing key (for tokens or audit checkpoints)."""
    return Ed25519PrivateKey.generate()


def write_key_pair(
    private_key: Ed25519PrivateKey, directory: str | os.PathLike, name: str = "hub-key"
) -> tuple[Path, Path]:
    """Write ``NAME.pem`` (private, mode 0600) and ``NAME.pub.pem``; never overwrite either."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / f"{name}.pem", directory / f"{name}.pub.pem"
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for path, data, mode in ((private_path, private_pem, 0o600), (public_path, public_pem, 0o644)):
        # O_EXCL: an existing key is never replaced; the mode applies from the first byte on,
        # so the private key is never readable by others, not even briefly.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except OSError as exc:
            raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    return private_path, public_path


def load_private_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """Read an unencrypted PEM Ed25519 private key."""
    try:
        key = serialization.load_pem_private_key(_read(path), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """Read a PEM Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(_read(path))
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def _read(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key {path}: {exc.strerror}") from exc


def check_province(code: str) -> str:
    """``code`` if it is a two-digit GB/T 2260 province code ("11" Beijing ... "82" Macao)."""
    if not (isinstance(code, str) and len(code) == 2 and code.isascii() and code.isdigit()
            and PROVINCES[int(code)]):
        raise ValueError(f"not a GB/T 2260 province code: {code!r}")
    return code


def issue(
    private_key: Ed25519PrivateKey,
    department: str,
    user: str,
    province: str | None = None,
    purpose: str | None = None,
    expires: timedelta = timedelta(hours=8),
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    """A token for ``user`` of ``department``, valid from now for ``expires``, with a random id."""
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError("tokens are signed with an Ed25519 private key")
    for name, value in (("department", department), ("user", user), ("audience", audience)):
        _check_text(name, value)
    if purpose is not None:
        _check_text("purpose", purpose)
    if province is not None:
        check_province(province)
    if expires <= timedelta(0):
        raise ValueError(f"expires must be positive, not {expires}")
    now = datetime.now(UTC).replace(microsecond=0)
    claims = {
        "sub": user, "aud": audience, "iat": now, "nbf": now, "exp": now + expires,
        "jti": secrets.token_urlsafe(16), "department": department,
    }
    if province is not None:
        claims["province"] = province
    if purpose is not None:
        claims["purpose"] = purpose
    return jwt.encode(claims, private_key, algorithm=ALGORITHM)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")


def verify(token: str, public_key: Ed25519PublicKey, audience: str = DEFAULT_AUDIENCE) -> Identity:
    """The identity of a token signed by ``public_key``'s pair for ``audience``.

    Raises :class:`AuthenticationError` for every token that does not verify: bad signature,
    another algorithm, expired, not yet valid, issued in the future, another audience, a
    required claim missing, or a claim of the wrong type.
    """
    # Only a key object: a str or bytes key is what the key-confusion attack relies on.
    if not isinstance(public_key, Ed25519PublicKey):
        raise TypeError("tokens are verified with an Ed25519 public key")
    if not isinstance(token, str):
        raise AuthenticationError("the token is not a string")
    try:
        claims = jwt.decode(
            token, public_key, algorithms=[ALGORITHM], audience=audience, leeway=LEEWAY,
            options={"require": list(REQUIRED_CLAIMS), "strict_aud": True},
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(f"invalid token: {exc}") from exc
    try:
        for name in ("sub", "jti", "department"):
            _check_text(name, claims.get(name))
        if claims.get("purpose") is not None:
            _check_text("purpose", claims["purpose"])
        if claims.get("province") is not None:
            check_province(claims["province"])
    except ValueError as exc:
        raise AuthenticationError(f"invalid token claim: {exc}") from exc
    return Identity(
        user=claims["sub"],
        department=claims["department"],
        province=claims.get("province"),
        purpose=claims.get("purpose"),
        token_id=claims["jti"],
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )

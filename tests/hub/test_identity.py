"""Signed tokens: what issue() writes verifies, and every forged or stale token is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from compute.cli import main
from hub.exceptions import AuthenticationError, KeyFileError
from hub.identity import (
    DEFAULT_AUDIENCE,
    generate_key,
    issue,
    load_private_key,
    load_public_key,
    verify,
    write_key_pair,
)

KEY = generate_key()
PUBLIC = KEY.public_key()
NOT_ALLOWED = "alg value is not allowed"


def claims(**changes: object) -> dict:
    """Valid claims of a token issued a minute ago for an hour; None removes a claim."""
    now = int(time.time())
    base = {"sub": "wang.li", "aud": DEFAULT_AUDIENCE, "iat": now - 60, "exp": now + 3600,
            "jti": "t-1", "department": "civil affairs", "province": "11"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(header: dict, payload: dict, sign) -> str:
    """A token built by hand, as an attacker would, with ``sign(signing_input) -> bytes``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def refused(token: object, match: str | None = None) -> None:
    with pytest.raises(AuthenticationError, match=match):
        verify(token, PUBLIC)


def test_an_issued_token_verifies_to_its_identity():
    token = issue(KEY, "civil affairs", "wang.li", province="44", purpose="dibao-review",
                  expires=timedelta(hours=8))
    identity = verify(token, PUBLIC)
    assert (identity.user, identity.department, identity.province, identity.purpose) == (
        "wang.li", "civil affairs", "44", "dibao-review")
    assert abs(identity.expires_at.timestamp() - (time.time() + 8 * 3600)) < 5
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    # Every token has its own random id, for the audit log and revocation.
    assert issue(KEY, "taxation", "li").count(".") == 2
    assert verify(issue(KEY, "taxation", "li"), PUBLIC).token_id != identity.token_id
    assert verify(issue(KEY, "taxation", "li"), PUBLIC).province is None


def test_issue_checks_its_arguments():
    for province in ("99", "1", "110000", "１１", 11):
        with pytest.raises(ValueError, match="province"):
            issue(KEY, "taxation", "li", province=province)
    with pytest.raises(ValueError, match="department"):
        issue(KEY, " ", "li")
    with pytest.raises(ValueError, match="positive"):
        issue(KEY, "taxation", "li", expires=timedelta(0))
    with pytest.raises(TypeError):
        issue(PUBLIC, "taxation", "li")


def test_a_token_signed_by_another_key_is_refused():
    refused(jwt.encode(claims(), generate_key(), algorithm="EdDSA"), "Signature")


def test_a_token_with_a_corrupted_signature_is_refused():
    head, payload, signature = issue(KEY, "taxation", "li").split(".")
    flipped = b64(bytes(b ^ 1 for b in base64.urlsafe_b64decode(signature + "==")))
    refused(f"{head}.{payload}.{flipped}")
    refused(f"{head}.{payload}.")


def test_a_token_whose_claims_were_edited_after_signing_is_refused():
    head, payload, signature = issue(KEY, "civil affairs", "li", province="11").split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    for field, value in (("department", "public security"), ("province", "44"),
                         ("sub", "admin"), ("exp", data["exp"] + 86400)):
        edited = b64(json.dumps({**data, field: value}).encode())
        refused(f"{head}.{edited}.{signature}", "Signature")


def test_alg_none_is_refused():
    refused(jwt.encode(claims(), None, algorithm="none"), NOT_ALLOWED)
    refused(handmade({"alg": "none"}, claims(), lambda _: b""), NOT_ALLOWED)
    refused(handmade({"alg": "EdDSA"}, claims(), lambda _: b""))  # EdDSA claimed, unsigned


@pytest.mark.parametrize("secret", [
    PUBLIC.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    PUBLIC.public_bytes(Encoding.Raw, PublicFormat.Raw),
    PUBLIC.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH),
])
def test_key_confusion_hs256_signed_with_the_public_key_is_refused(secret):
    # The classic attack: the public key (which anyone may hold) used as an HMAC secret.
    for alg, digest in (("HS256", hashlib.sha256), ("HS512", hashlib.sha512)):
        token = handmade({"alg": alg, "typ": "JWT"}, claims(department="public security"),
                         lambda data, d=digest: hmac.new(secret, data, d).digest())
        refused(token, NOT_ALLOWED)


def test_verify_takes_only_an_ed25519_key_object():
    pem = PUBLIC.public_bytes(Encoding.PEM,
                              PublicFormat.SubjectPublicKeyInfo)
    token = issue(KEY, "taxation", "li")
    for key in (pem, pem.decode(), KEY):
        with pytest.raises(TypeError):
            verify(token, key)


@pytest.mark.parametrize("make_key, alg", [
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "PS256"),
    (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
])
def test_a_token_signed_by_an_rsa_or_ec_key_is_refused(make_key, alg):
    key = make_key()
    refused(jwt.encode(claims(), key, algorithm=alg), NOT_ALLOWED)
    # The same foreign signature under a header that claims EdDSA.
    token = jwt.encode(claims(), key, algorithm=alg)
    head = b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    refused(head + token[token.index("."):])


def test_a_key_embedded_in_the_header_is_not_used():
    attacker = generate_key()
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))
    token = jwt.encode(claims(), attacker, algorithm="EdDSA", headers={"jwk": jwk, "kid": "hub"})
    refused(token, "Signature")


@pytest.mark.parametrize("changes, match", [
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"nbf": int(time.time()) + 3600}, "not yet valid"),
    ({"iat": int(time.time()) + 3600}, "not yet valid"),
    ({"aud": "another-service"}, "Audience"),
    ({"aud": [DEFAULT_AUDIENCE, "another-service"]}, "claim format"),
    ({"exp": None}, "exp"),
    ({"iat": None}, "iat"),
    ({"sub": None}, "sub"),
    ({"aud": None}, "aud"),
    ({"jti": None}, "jti"),
    ({"department": None}, "department"),
    ({"department": ""}, "department"),
    ({"department": ["civil affairs", "public security"]}, "department"),
    ({"province": "99"}, "province"),
    ({"province": 11}, "province"),
    ({"purpose": 7}, "purpose"),
    ({"exp": "tomorrow"}, "exp"),
])
def test_a_validly_signed_token_with_bad_claims_is_refused(changes, match):
    refused(jwt.encode(claims(**changes), KEY, algorithm="EdDSA"), match)


def test_the_audience_is_the_verifiers_choice():
    token = jwt.encode(claims(aud="reports"), KEY, algorithm="EdDSA")
    assert verify(token, PUBLIC, audience="reports").user == "wang.li"
    refused(token)


@pytest.mark.parametrize("garbage", [
    "", "garbage", "a.b.c", "...", "e30.e30.", "e30.e30.e30", "\x00\xff", "é.é.é",
    "eyJhbGciOiJFZERTQSJ9.bm90IGpzb24.c2ln", None, b"a.b.c", 42,
])
def test_garbage_is_refused(garbage):
    refused(garbage)


def test_key_files_round_trip_with_a_private_mode_and_are_never_overwritten(tmp_path):
    private, public = write_key_pair(KEY, tmp_path / "keys")
    assert os.stat(private).st_mode & 0o777 == 0o600
    token = issue(load_private_key(private), "taxation", "li")
    assert verify(token, load_public_key(public)).department == "taxation"
    with pytest.raises(KeyFileError, match="exists"):
        write_key_pair(generate_key(), tmp_path / "keys")
    assert verify(token, load_public_key(public)).user == "li"


def test_loading_a_wrong_or_missing_key_file_fails_clearly(tmp_path):
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                        .private_bytes(Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        load_private_key(rsa_key)
    with pytest.raises(KeyFileError, match="not a PEM public key"):
        load_public_key(rsa_key)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")


def test_the_token_commands_make_keys_and_issue_a_token(tmp_path, capsys):
    assert main(["token", "keygen", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["token", "issue", "--department", "taxation", "--user", "li",
                 "--province", "32", "--purpose", "audit", "--expires", "8h",
                 "--key", str(tmp_path / "hub-key.pem")]) == 0
    public = load_public_key(tmp_path / "hub-key.pub.pem")
    identity = verify(capsys.readouterr().out.strip(), public)
    assert (identity.department, identity.province, identity.purpose) == ("taxation", "32", "audit")
    assert abs(identity.expires_at.timestamp() - time.time() - 8 * 3600) < 5
    assert main(["token", "issue", "--department", "taxation", "--user", "li",
                 "--province", "99", "--expires", "8h",
                 "--key", str(tmp_path / "hub-key.pem")]) == 2
    assert "province" in capsys.readouterr().err

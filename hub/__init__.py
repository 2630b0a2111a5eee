"""The governed hub: who is asking (signed tokens), what they may read (the policy), and what
was done (the audit log).

    from hub import AuditLog, issue, verify
    identity = verify(token, public_key)
    with AuditLog("audit/", signing_key) as log:
        log.record({"user": identity.user, "decision": "deny", "reason": "no grant"})

Names are imported on first use (PEP 562), so registering the hub's commands stays cheap.
"""

from importlib import import_module

from hub.exceptions import AuditError, AuthenticationError, HubError, KeyFileError

_LAZY = {
    **dict.fromkeys(("ENTRY_FIELDS", "AuditLog", "AuditReceipt", "reject_raw_ids"), "hub.audit"),
    **dict.fromkeys(("Failure", "VerifyReport", "verify_log"), "hub.audit_verify"),
    **dict.fromkeys(("Identity", "generate_key", "issue", "load_private_key", "load_public_key",
                     "verify", "write_key_pair"), "hub.identity"),
    **dict.fromkeys(("connect", "HubClient"), "hub.client"),
}


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'hub' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ENTRY_FIELDS",
    "AuditError",
    "AuditLog",
    "AuditReceipt",
    "AuthenticationError",
    "Failure",
    "HubClient",
    "HubError",
    "Identity",
    "KeyFileError",
    "VerifyReport",
    "connect",
    "generate_key",
    "issue",
    "load_private_key",
    "load_public_key",
    "reject_raw_ids",
    "verify",
    "verify_log",
    "write_key_pair",
]

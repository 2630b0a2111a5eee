"""Errors raised by :mod:`hub`.

    GovgridError (compute)         base of every govgrid error
    └── HubError                   base of the governed hub's errors
        ├── KeyFileError           a key file is missing, unreadable or not an Ed25519 key
        ├── AuthenticationError    a token is malformed, forged, expired or for another audience
        ├── AuditError             an audit entry was not durably written, or a log is unusable
        ├── PolicyError            a policy file does not load (also a ValueError)
        └── AccessDenied           the policy does not let the caller read a table or columns
                                   (also a PermissionError)

Lower-level errors (pyjwt, cryptography, OSError) are translated at the boundary with
``raise ... from exc``; bad arguments raise ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

from compute.exceptions import GovgridError


class HubError(GovgridError):
    """Base of the errors raised by :mod:`hub`."""


class KeyFileError(HubError):
    """A key file is missing, unreadable, or holds another kind of key than Ed25519."""


class AuthenticationError(HubError):
    """A token did not verify. The message says why; nothing of the token is trusted."""


class AuditError(HubError):
    """An audit entry is not on disk (the request must return nothing), or a log is unusable."""


class PolicyError(HubError, ValueError):
    """A policy file that does not load; ``problems`` holds every (line, message) found."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = sorted(problems)
        lines = "\n".join(f"  {source} line {line}: {message}" for line, message in self.problems)
        super().__init__(f"policy {source} has {len(self.problems)} problem(s):\n{lines}")


class AccessDenied(HubError, PermissionError):
    """A request for a table, or for columns, that the policy does not allow."""

"""One error tree for everything a user can act on.

Each message says what was wrong and what to do. The CLI prints the message as one
line and exits non-zero; the HTTP server maps ``status`` to the response code.
"""

from __future__ import annotations


class GovfabricError(Exception):
    """Base of every error a user can act on."""

    status: int = 400
    exit_code: int = 1


class ConfigError(GovfabricError):
    """The workspace or its settings are missing or invalid."""


class NotFound(GovfabricError):
    """A named object (asset, source, principal, request…) does not exist."""

    status = 404


class AlreadyExists(GovfabricError):
    """A registration would duplicate an existing one."""

    status = 409


class Conflict(GovfabricError):
    """The operation collides with concurrent work (e.g. a harvest already running)."""

    status = 409


class ValidationFailed(GovfabricError):
    """Input (a file, a rule, a request body) is malformed; nothing was written."""

    status = 422

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            shown = "\n".join(f"  - {p}" for p in self.problems[:50])
            more = len(self.problems) - 50
            if more > 0:
                shown += f"\n  … and {more} more"
            message = f"{message}\n{shown}"
        super().__init__(message)


class SourceError(GovfabricError):
    """A data source is unreachable, refuses the credentials, or is unreadable (HTTP 503: the
    service is up, that source is not; the message names it)."""

    status = 503


class QueryRejected(GovfabricError):
    """Virtual SQL that the pipeline refuses (not understood, not allowed, unknown names)."""


class AccessDenied(GovfabricError):
    """The acting principal lacks the grant or role this needs."""

    status = 403


class QualityFailed(GovfabricError):
    """A quality run could not be completed (not: a rule found violations)."""


class SignatureInvalid(GovfabricError):
    """A signature, digest, proof or hash chain does not verify."""

    status = 401


class IntegrityError(GovfabricError):
    """Stored records were altered: the audit chain or an attestation no longer matches."""


class ChainError(GovfabricError):
    """The blockchain node is unreachable, on the wrong chain, or reverted a transaction."""

    status = 502


class MPCError(GovfabricError):
    """A multi-party computation task was refused or failed at a named step."""


class AuthenticationRequired(GovfabricError):
    """An API request without valid credentials (its ``code`` names the reason: signature_expired…)."""

    status = 401

    def __init__(self, message: str, code: str = "authentication_required") -> None:
        super().__init__(message)
        self.code = code


class RateLimited(GovfabricError):
    """A caller exceeded a rate limit or daily quota; ``headers`` carries ``Retry-After``."""

    status = 429

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, retry_after_s))}


class Unavailable(GovfabricError):
    """The store, an engine or a source is not reachable now; retry later."""

    status = 503


class TooLarge(GovfabricError):
    """An upload or body over its size limit (HTTP 413); nothing was stored."""

    status = 413

"""The agent's own error types.

Library errors (kubernetes, grpc, pydantic) are converted at the module that
imports the library and raised ``from`` the original, so the rest of the agent
never handles a foreign exception type. A user-caused error carries one line
that says what to fix.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""


class ConfigError(AgentError):
    """Bad configuration (flags, environment, kubeconfig): exit code 2."""


class KubeError(AgentError):
    """A read from the Kubernetes API failed.

    ``reason`` is the Gap vocabulary of report.proto: forbidden, not_found,
    error, timeout or expired.
    """

    reason = "error"

    def __init__(self, resource: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{resource}: {message}")
        self.resource = resource
        self.message = message
        self.status = status


class KubeForbidden(KubeError):
    """403: the agent's RBAC does not grant the read."""

    reason = "forbidden"


class KubeUnauthorized(KubeError):
    """401: the credentials were refused (expired token, wrong kubeconfig user)."""

    reason = "error"


class KubeNotFound(KubeError):
    """404: the object does not exist, or the API group/version is not served."""

    reason = "not_found"


class KubeGone(KubeError):
    """410: a list continue token expired; the list must restart (a second time is a gap)."""

    reason = "expired"


class KubeTimeout(KubeError):
    """The API server did not answer within the request timeout."""

    reason = "timeout"


class KubeUnavailable(KubeError):
    """The API server could not be reached, or answered 429/5xx after retries."""

    reason = "error"


class CollectorUnreachable(AgentError):
    """The collector could not be reached or broke the stream."""


class SpoolError(AgentError):
    """The on-disk spool cannot be used (not writable, not a directory)."""


class MalformedReport(AgentError):
    """A report file given to ``inspect`` cannot be parsed."""

"""Errors a user can cause. Each ends in one line naming what to fix."""

from __future__ import annotations

FAILURE_EXIT_CODE = 1
USAGE_EXIT_CODE = 2
SERVICE_UNAVAILABLE_EXIT_CODE = 3
EXIT_CODES = (
    "Exit codes: 0 ok; 1 findings at or above --fail-on (or the command's own failure); "
    "2 usage or configuration; 3 a service (collector, broker, worker, store, ARM) unavailable."
)


class NetauditError(Exception):
    """Base for errors shown to the user as one line, without a traceback."""

    exit_code = FAILURE_EXIT_CODE


class ConfigError(NetauditError):
    """The configuration (flags, environment, YAML file) is invalid."""

    exit_code = USAGE_EXIT_CODE


class ServiceUnavailable(NetauditError):
    """A server the command needs (store, broker, worker, collector) cannot be reached."""

    exit_code = SERVICE_UNAVAILABLE_EXIT_CODE


class ScanFailed(NetauditError):
    """A scan did not finish or finished with an error."""


class UsageError(NetauditError):
    """A command's argument is invalid (a malformed id, a file that is in the way)."""

    exit_code = USAGE_EXIT_CODE

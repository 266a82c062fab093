"""Errors a user can cause. Each ends in one line naming what to fix."""

from __future__ import annotations

USAGE_EXIT_CODE = 2
FAILURE_EXIT_CODE = 1


class NetauditError(Exception):
    """Base for errors shown to the user as one line, without a traceback."""

    exit_code = FAILURE_EXIT_CODE


class ConfigError(NetauditError):
    """The configuration (flags, environment, YAML file) is invalid."""

    exit_code = USAGE_EXIT_CODE


class ServiceUnavailable(NetauditError):
    """A server the command needs (store, broker, collector) cannot be reached."""


class ScanFailed(NetauditError):
    """A scan did not finish or finished with an error."""


class UsageError(NetauditError):
    """A command's argument is invalid (a malformed id, a file that is in the way)."""

    exit_code = USAGE_EXIT_CODE

"""Errors the sandbox raises for problems a user can fix."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class: the message is one line naming what to fix."""


class FixtureError(SandboxError):
    """A fixture file is missing or cannot be parsed."""

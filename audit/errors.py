"""The offline audit's own errors."""

from __future__ import annotations


class AuditError(Exception):
    """Base of every error the offline audit raises on purpose."""


class InputError(AuditError):
    """An input the user named cannot be used at all (a folder that does not exist); exit
    code 2. A single unreadable file inside a folder is a warning instead."""

"""Errors reading Azure Resource Manager that a user can cause or must wait out.

Each message is one line naming what to fix. A failure on one resource of a
cluster is not an error: it becomes an ``InventoryGap`` on that cluster.
"""

from __future__ import annotations

from netaudit.collector.errors import USAGE_EXIT_CODE, NetauditError, ServiceUnavailable


class ArmError(NetauditError):
    """Reading a subscription from Azure Resource Manager failed."""


class ArmAuthenticationError(ArmError):
    """No token: wrong tenant, client id or secret, or no credential configured."""

    exit_code = USAGE_EXIT_CODE


class ArmUnreachableError(ArmError, ServiceUnavailable):
    """ARM or the identity provider cannot be reached (address, network, TLS trust)."""


class UnknownSubscriptionError(ArmError):
    """The subscription does not exist for this credential's tenant."""

    exit_code = USAGE_EXIT_CODE


class SubscriptionAccessDenied(ArmError):
    """The credential may not list the subscription's managed clusters."""

    exit_code = USAGE_EXIT_CODE


class TransientArmError(ArmError, ServiceUnavailable):
    """ARM throttled or failed after the client's own retries; worth retrying later."""

"""The contract's version: which revision of protos/netaudit/v1 a peer speaks.

The agent sends ``CONTRACT_VERSION`` in its hello; the collector accepts
``ACCEPTED_CONTRACT_VERSIONS`` (this one and the previous one, so agents and
collectors can be upgraded in either order, one release apart) and refuses any
other with FAILED_PRECONDITION. Defined once, here, outside both the agent and the
collector: both import it without importing each other.

``protos/baseline.binpb`` is the image of ``PREVIOUS_CONTRACT_VERSION``: ``buf
breaking`` (in ``make test``) keeps the current protos wire-compatible with it.
Version 0 is the contract before the hello had ``contract_version`` (an absent
field reads as 0): the agents already deployed speak it, and the baseline is its
image. When a release changes the contract, bump ``CONTRACT_VERSION``, set
``PREVIOUS_CONTRACT_VERSION`` to the released one and rebuild the baseline from
the release (``make proto-baseline REF=<release tag>``); then 0 stops being
accepted.
"""

from __future__ import annotations

CONTRACT_VERSION = 1
"""What this build's agent sends and its collector speaks."""

PREVIOUS_CONTRACT_VERSION = 0
"""The contract one release back: still accepted; protos/baseline.binpb is its image."""

ACCEPTED_CONTRACT_VERSIONS = (CONTRACT_VERSION, PREVIOUS_CONTRACT_VERSION)

"""What the store raises: one line each, naming what to fix, raised `from` the library error."""

from __future__ import annotations

from netaudit.collector.errors import USAGE_EXIT_CODE, NetauditError, ServiceUnavailable


class StoreError(NetauditError):
    """Base of every store error."""


class InvalidReport(StoreError):
    """A report the store must never accept (retrying it cannot help)."""


class StaleReport(InvalidReport):
    """A report whose sequence is not after one already committed from the same agent run."""


class ReportContradictsInventory(InvalidReport):
    """A report naming its cluster, or its region, otherwise than ARM's inventory does."""


class InvalidInventory(StoreError):
    """An inventory without the cluster's ARM resource id."""


class InvalidFinding(StoreError):
    """A finding that does not belong to the cluster it is recorded for."""


class UnknownCluster(StoreError):
    """Findings recorded for a cluster the store has never seen."""


class UnknownScan(StoreError):
    """A scan id that `start_scan` never returned."""


class SchemaNotCurrent(StoreError):
    """The database has no netaudit schema, or an older or newer one: run `db upgrade`."""

    exit_code = USAGE_EXIT_CODE


class StoreNotCreated(SchemaNotCurrent):
    """The SQLite file (or its folder) does not exist yet; reading must not create it."""


class StoreUnavailable(StoreError, ServiceUnavailable):
    """The database cannot be reached or stayed locked: transient, worth retrying."""


class UnknownToken(StoreError):
    """An agent token id that `tokens create` never printed."""

    exit_code = USAGE_EXIT_CODE

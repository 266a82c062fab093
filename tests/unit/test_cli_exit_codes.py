"""The exit code each kind of error ends the command line with, as every --help documents:
1 the command's own failure, 2 usage or configuration, 3 a service unavailable."""

from __future__ import annotations

import pytest

from netaudit.collector.beat import BeatAlreadyRunning
from netaudit.collector.broker import BrokerUnavailable
from netaudit.collector.errors import (
    ConfigError,
    NetauditError,
    ScanFailed,
    ServiceUnavailable,
    UsageError,
)
from netaudit.collector.inventory.errors import (
    ArmAuthenticationError,
    ArmUnreachableError,
    TransientArmError,
)
from netaudit.collector.store import SchemaNotCurrent, StoreNotCreated, StoreUnavailable

CASES: list[tuple[type[NetauditError], int]] = [
    (ScanFailed, 1),
    (BeatAlreadyRunning, 1),
    (ConfigError, 2),
    (UsageError, 2),
    (SchemaNotCurrent, 2),
    (StoreNotCreated, 2),
    (ArmAuthenticationError, 2),
    (ServiceUnavailable, 3),
    (StoreUnavailable, 3),
    (BrokerUnavailable, 3),
    (ArmUnreachableError, 3),
    (TransientArmError, 3),
]


@pytest.mark.parametrize(("error", "code"), CASES, ids=[e.__name__ for e, _ in CASES])
def test_each_error_ends_in_its_documented_exit_code(error: type[NetauditError], code: int) -> None:
    assert error("x").exit_code == code

"""The on-disk spool: order, atomic files, the byte cap, restarts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from netaudit.agent.errors import SpoolError
from netaudit.agent.spool import Spool
from netaudit.v1 import report_pb2

MIB = 1024 * 1024


def report(sequence: int, *, epoch: int = 1, padding: int = 0) -> report_pb2.Report:
    message = report_pb2.Report(
        report_id=f"report-{epoch}-{sequence}", agent_epoch=epoch, sequence=sequence
    )
    if padding:
        message.cluster.name = "x" * padding
    return message


def test_reports_come_back_oldest_first_across_epochs(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MIB)
    for epoch, sequence in [(2, 1), (1, 10), (1, 2), (2, 3)]:
        spool.put(report(sequence, epoch=epoch))
    assert [(r.agent_epoch, r.sequence) for r in spool.pending()] == [
        (1, 2),
        (1, 10),
        (2, 1),
        (2, 3),
    ]


def test_a_spooled_report_reads_back_identical(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MIB)
    original = report(5, padding=100)
    spool.put(original)
    (entry,) = spool.pending()
    assert report_pb2.Report.FromString(entry.read()) == original
    assert entry.size == original.ByteSize()


def test_a_report_leaves_only_when_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MIB)
    spool.put(report(1))
    spool.put(report(2))
    assert spool.remove("report-1-1") is True
    assert spool.remove("report-1-1") is False
    assert [r.report_id for r in spool.pending()] == ["report-1-2"]


def test_reports_survive_a_restart_and_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    Spool(tmp_path, MIB).put(report(1))
    (tmp_path / ".tmp-crashed-write").write_bytes(b"half a report")
    (tmp_path / "unrelated.txt").write_text("not a report")
    restarted = Spool(tmp_path, MIB)
    assert [r.report_id for r in restarted.pending()] == ["report-1-1"]
    assert not (tmp_path / ".tmp-crashed-write").exists()
    assert restarted.get("report-1-1") is not None


def test_over_the_cap_the_oldest_reports_are_dropped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, MIB)
    quarter = MIB // 4
    for sequence in range(1, 7):
        with caplog.at_level(logging.WARNING, logger="netaudit.agent.spool"):
            spool.put(report(sequence, padding=quarter))
    kept = [r.sequence for r in spool.pending()]
    assert kept == [4, 5, 6]  # three reports of ~1/4 MiB fit, a fourth would not
    assert spool.total_bytes() <= MIB
    assert spool.dropped_total == 3
    assert "dropped 1 oldest unsent reports" in caplog.text


def test_the_newest_report_is_kept_even_alone_over_the_cap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MIB)
    spool.put(report(1))
    spool.put(report(2, padding=MIB + 10))
    assert [r.sequence for r in spool.pending()] == [2]


def test_a_report_id_that_is_not_a_safe_file_name_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path, MIB)
    bad = report_pb2.Report(report_id="../escape", agent_epoch=1, sequence=1)
    with pytest.raises(ValueError):
        spool.put(bad)
    assert list(tmp_path.iterdir()) == []


def test_a_spool_directory_that_is_a_file_is_a_spool_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "spool"
    not_a_directory.write_text("")
    with pytest.raises(SpoolError, match="not usable"):
        Spool(not_a_directory, MIB)


def test_each_report_dropped_by_the_cap_is_told_to_on_drop(tmp_path: Path) -> None:
    dropped: list[tuple[str, int, int]] = []
    spool = Spool(
        tmp_path,
        MIB,
        on_drop=lambda entry: dropped.append((entry.report_id, entry.agent_epoch, entry.sequence)),
    )
    for sequence in range(1, 6):
        spool.put(report(sequence, padding=MIB // 4))
    assert dropped == [("report-1-1", 1, 1), ("report-1-2", 1, 2)]

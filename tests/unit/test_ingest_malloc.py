"""The collector fixes glibc's mmap threshold so freed report buffers leave the process."""

from __future__ import annotations

import platform

import pytest

from netaudit.collector.ingest.malloc import keep_large_buffers_returnable


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_threshold_is_set_on_glibc() -> None:
    assert keep_large_buffers_returnable() is True

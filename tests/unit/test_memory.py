"""The collector fixes glibc's mmap threshold so freed report buffers leave the process."""

from __future__ import annotations

import platform

import pytest

from netaudit.collector.memory import keep_large_buffers_returnable, return_free_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_threshold_is_set_on_glibc() -> None:
    assert keep_large_buffers_returnable() is True


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_free_memory_is_trimmed_on_glibc() -> None:
    assert return_free_memory() is True

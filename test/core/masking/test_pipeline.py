"""The threaded stages of the masking engine: order, bounded read-ahead, errors, stage clocks."""
import threading
import time

import numpy as np
import pytest

from cloudfree.core.api import cloud_mask
from cloudfree.core.masking.pipeline import AsyncWriter, RowReader


def test_rows_arrive_in_order_and_reading_stays_at_most_two_rows_ahead():
    calls = []

    def read(y):
        calls.append(y)
        return np.full(3, y), np.ones(3, bool)

    reader = RowReader(read, range(10), depth=2)
    time.sleep(0.3)                                  # nothing consumed yet
    assert len(calls) <= 3                           # two queued and one waiting to be queued
    assert [int(d[0]) for d, _ in reader] == list(range(10))
    reader.close()


def test_a_read_error_reaches_the_consumer_and_close_stops_the_thread():
    def read(y):
        if y == 2:
            raise OSError("band file truncated")
        return np.zeros(1), np.ones(1, bool)

    reader = RowReader(read, range(5))
    with pytest.raises(OSError, match="truncated"):
        list(reader)
    reader.close()
    endless = RowReader(lambda y: (np.zeros(1), np.ones(1, bool)), range(10 ** 6))
    endless.close()
    assert not endless._thread.is_alive()


def test_writes_keep_their_order_and_a_write_error_is_raised():
    seen = []
    writer = AsyncWriter(lambda i: seen.append((i, threading.current_thread().name)))
    for i in range(20):
        writer.submit(i)
    writer.finish()
    assert [i for i, _ in seen] == list(range(20)) and {n for _, n in seen} == {"cloudfree-write"}

    def fail(i):
        if i == 3:
            raise OSError("disk full")

    failing = AsyncWriter(fail)
    with pytest.raises(OSError, match="disk full"):
        for i in range(50):
            failing.submit(i)
            time.sleep(0.005)
        failing.finish()


def test_a_real_scene_reports_the_busy_seconds_of_each_stage(safe_l1c, tmp_path):
    result = cloud_mask(safe_l1c, tmp_path / "mask.tif")
    for stage in ("read", "infer", "write", "finish (buffer, COG)"):
        assert result.stages[stage] > 0
    assert result.stages["infer"] < result.seconds

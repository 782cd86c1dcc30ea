"""Scale-out on a real Dask LocalCluster on loopback, with a worker killed in the middle of a scene."""
import os
import signal
import threading
import time

import numpy as np
import pytest
import rasterio

from cloudfree.core.batch.jobs import DONE, BatchOptions, ScenePaths, scene_name
from cloudfree.core.batch.runner import run_batch
from cloudfree.core.errors import InputError
from batch_fixture import copies_of

distributed = pytest.importorskip("distributed")
OPTIONS = BatchOptions(resolution_m=10, batch_size=1)   # 10 m: a few seconds a scene, time to kill a worker in it


@pytest.fixture(scope="module")
def products(safe_l1c, tmp_path_factory):
    return copies_of(safe_l1c, tmp_path_factory.mktemp("dask") / "products")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, worker_dashboard_address=None) as c:
        yield c


def masks(out, products):
    result = []
    for p in products:
        with rasterio.open(ScenePaths(out, scene_name(p)).mask) as ds:
            result.append(ds.read(1))
    return result


def test_a_killed_worker_loses_no_scene_and_does_none_twice(products, cluster, tmp_path):
    local = run_batch(products, tmp_path / "local", OPTIONS)
    out = tmp_path / "dask"
    box = {}
    runner = threading.Thread(target=lambda: box.update(
        result=run_batch(products, out, OPTIONS, scheduler=cluster.scheduler_address)))
    runner.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and runner.is_alive():
        for claim in out.glob("*.running.json") if out.is_dir() else []:
            try:
                info = __import__("json").loads(claim.read_text())
            except ValueError:
                continue
            os.kill(info["pid"], signal.SIGKILL)          # the worker dies in the middle of this scene
            killed = info
            break
        time.sleep(0.05)
    runner.join(timeout=300)
    assert killed is not None, "no scene was seen running"
    result = box["result"]
    assert [r["status"] for r in result.rows] == [DONE] * len(products)
    assert sorted(r["scene"] for r in result.rows) == sorted(scene_name(p) for p in products)   # each once
    redone = next(r for r in result.rows if r["scene"] == killed["scene"])
    assert redone["worker"] != killed["worker"]                   # finished by another worker process
    for a, b in zip(masks(out, products), masks(tmp_path / "local", products)):
        np.testing.assert_array_equal(a, b)                      # the same masks as a run here
    for local_row, row in zip(local.rows, result.rows):
        assert (row["cloud_percent"], row["shadow_percent"]) == (local_row["cloud_percent"],
                                                                 local_row["shadow_percent"])
    assert not list(out.glob(".*")) and not list(out.glob("*.running.json"))


def test_gpu_workers_are_asked_for_and_missing_ones_are_said(products, cluster, tmp_path):
    with pytest.raises(InputError, match="GPU"):
        run_batch(products[:1], tmp_path / "gpu", OPTIONS, scheduler=cluster.scheduler_address, gpu_workers=True)


def test_an_unreachable_scheduler_is_a_clear_error(products, tmp_path):
    with pytest.raises(InputError, match="Cannot reach the Dask scheduler"):
        run_batch(products[:1], tmp_path / "x", OPTIONS, scheduler="tcp://127.0.0.1:1")

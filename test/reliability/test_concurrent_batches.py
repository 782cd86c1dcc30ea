"""Two `cloudfree batch` runs started together on the same products and the same output folder (a cron job
and a user, two cluster jobs): every scene is masked exactly once, neither run fails, nothing is left half done.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import rasterio

import batch_fixture
from cloudfree.core.batch.jobs import DONE_BEFORE, BatchOptions, process_scene

from reliability_kit import (assert_no_temporaries, assert_unchanged, cli_env, snapshot)

ACCEPTED = {"done", "done before", "skipped: in progress elsewhere"}

# The batch command with the claim file's body written 2.5 s after the claim is created (os.fdopen delayed
# inside core.batch only), as on a slow network file system.
SLOW_CLAIM = ("import os, sys, time\n"
              "import cloudfree.core.batch.jobs as batch\n"
              "proxy = type(sys)('os'); proxy.__dict__.update(os.__dict__)\n"
              "def fdopen(fd, *args, **kwargs):\n"
              "    time.sleep(2.5)\n"
              "    return os.fdopen(fd, *args, **kwargs)\n"
              "proxy.fdopen = fdopen\n"
              "batch.os = proxy\n"
              "from cloudfree.cli.main import main\n"
              "sys.exit(main(sys.argv[1:]))\n")


def _race(work: Path, products, extra, slow_claim: bool = False):
    """Start two batches at once on work/products -> work/out; return their (exit status, stderr, rows by scene)."""
    head = [sys.executable, "-c", SLOW_CLAIM] if slow_claim else [sys.executable, "-m", "cloudfree"]
    command = [*head, "batch", "products", "-o", "out", "--resolution", "60", "--json", *extra]
    runs = [subprocess.Popen(command, cwd=work, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    results = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=300)
        rows = {row["scene"]: row for row in json.loads(stdout)["scenes"]} if stdout.strip() else {}
        results.append((run.returncode, stderr, rows))
    return results


def _check_once(work: Path, products, results, extra) -> None:
    out = work / "out"
    for status, stderr, _rows in results:
        assert "Traceback" not in stderr, stderr[-3000:]
        assert status == 0, f"exit {status}:\n{stderr[-3000:]}"
    for product in products:
        scene = product.name[:-len(".SAFE")]
        rows = [r[scene] for _s, _e, r in results]
        statuses = [row["status"] for row in rows]
        assert set(statuses) <= ACCEPTED, f"{scene}: {statuses}"
        # who masked it: the worker named in a 'done' row (a row copied from the record names the worker that did it)
        workers = {row["worker"] for row in rows if row["status"] == "done"}
        assert len(workers) == 1, f"{scene} was masked by {sorted(workers)}: {statuses}"
        assert (out / f"{scene}.done.json").is_file()
        with rasterio.open(out / f"{scene}_mask.tif") as mask:
            assert mask.read(1).shape == (128, 256)  # 1536 x 768 px at 10 m, masked at 60 m
        assert (out / f"{scene}_confidence.tif").is_file() == bool(extra)
    assert not list(out.glob("*.running.json")), "a claim was left behind"


@pytest.mark.parametrize("count,extra", [(2, []), (3, ["--confidence"])], ids=["two-products", "three-with-confidence"])
def test_two_batches_on_one_folder_mask_each_scene_once(count, extra, work, safe_l1c):
    """Both runs exit 0, none fails a scene, and each scene is masked by exactly one of them."""
    products = batch_fixture.copies_of(safe_l1c, work / "products", batch_fixture.DATES[:count])
    inputs_before = snapshot(work / "products")
    results = _race(work, products, extra)
    _check_once(work, products, results, extra)
    assert_unchanged(inputs_before, snapshot(work / "products"))
    assert_no_temporaries(work)


def test_two_batches_with_slow_claim_writes_mask_each_scene_once(work, safe_l1c):
    """Claims must exclude each other however slowly the claim's body reaches the disk."""
    products = batch_fixture.copies_of(safe_l1c, work / "products", batch_fixture.DATES[:2])
    inputs_before = snapshot(work / "products")
    results = _race(work, products, [], slow_claim=True)
    assert_unchanged(inputs_before, snapshot(work / "products"))
    assert_no_temporaries(work)
    _check_once(work, products, results, [])


def test_scene_finished_elsewhere_is_reported_done_before(work, safe_l1c):
    """A summary must say which run did the work: a scene found finished is 'done before', not 'done'."""
    product = batch_fixture.copies_of(safe_l1c, work / "products", batch_fixture.DATES[:1])[0]
    out = work / "out"
    out.mkdir()
    options = BatchOptions(resolution_m=60)
    first = process_scene(product, out, options)
    assert first["status"] == "done"
    before = snapshot(work)
    again = process_scene(product, out, options)
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert again["worker"] == first["worker"] and again["mask"] == first["mask"]
    assert again["status"] == DONE_BEFORE, f"a scene found finished is reported {again['status']!r}"

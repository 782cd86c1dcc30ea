"""All-or-nothing outputs (core.io.outputs.OutputSet): a run that fails, is cancelled, is killed or fills the disk
leaves every pre-existing output byte-identical and no temporary behind; a run that succeeds replaces all of
them; temporaries of dead runs are cleaned up, those of live runs are not.
"""
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil

import cloudfree.core.io.outputs as outputs_module
from cloudfree.core.api import cloud_mask
from cloudfree.core.errors import Cancelled
from cloudfree.core.io.outputs import OutputWriteError
from cloudfree.core.progress import Feedback
from cloudfree.core.reconstruction.reconstruct import reconstruct
from cloudfree.core.masking.scl import scl_mask

from reliability_kit import (assert_api_error, assert_cli_error, assert_kept, assert_no_temporaries,
                             assert_unchanged, cli, cli_env, dead_pid, raised, snapshot,
                             temporaries, truncate_to)

OLD = {"m.tif": "old_mask.tif", "m.qml": "old_mask.qml", "c.tif": "old_conf.tif", "c.qml": "old_conf.qml"}


def _place_previous(folder: Path, sample_masks: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name, src in OLD.items():
        shutil.copyfile(sample_masks / src, folder / name)


@pytest.fixture
def previous(work, sample, sample_masks) -> Path:
    """An output folder holding the mask and confidence (with styles) of an earlier run."""
    out = work / "out"
    _place_previous(out, sample_masks)
    return out


def _truncate_on_verify(monkeypatch, k: int) -> list:
    """The k-th raster verified is first cut to half on disk, as a flaky disk or share would leave it."""
    real = outputs_module.verify_raster
    seen = []

    def verify(path):
        seen.append(Path(path).name)
        if len(seen) == k:
            truncate_to(Path(path), 0.5)
        return real(path)

    monkeypatch.setattr(outputs_module, "verify_raster", verify)
    return seen


@pytest.mark.parametrize("k", [1, 2], ids=["confidence-cog-damaged", "mask-cog-damaged"])
def test_damaged_cog_keeps_previous_outputs(k, work, previous, monkeypatch):
    """A COG that reads back damaged must not replace the previous mask, nor the confidence verified before it."""
    before = snapshot(work)
    seen = _truncate_on_verify(monkeypatch, k)
    exc = raised(cloud_mask, work / "x.tif", previous / "m.tif", previous / "c.tif", resolution_m=60)
    assert len(seen) == k
    assert_api_error(exc, OutputWriteError, "failed", "the existing outputs were kept")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


@pytest.mark.parametrize("k", [1, 2], ids=["first-cog", "second-cog"])
def test_disk_full_during_cog_conversion_keeps_previous_outputs(k, work, previous, monkeypatch):
    """ENOSPC while the COGs are written (after the up-front space check) must say 'space' and replace nothing."""
    real = rasterio.shutil.copy
    calls = []

    def copy(src, dst, *args, **kwargs):
        calls.append(dst)
        real(src, dst, *args, **kwargs)
        if len(calls) == k:
            truncate_to(Path(dst), 0.5)
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(rasterio.shutil, "copy", copy)
    before = snapshot(work)
    exc = raised(cloud_mask, work / "x.tif", previous / "m.tif", previous / "c.tif", resolution_m=60)
    assert_api_error(exc, OutputWriteError, "No space left", "Nothing was replaced")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)




@pytest.mark.parametrize("k", [1, 2, 6, 8],
                         ids=["1-confidence-aside", "2-confidence-into-place", "6-mask-into-place",
                              "8-last-style-into-place"])
def test_failed_rename_rolls_back_every_output(k, work, previous, monkeypatch):
    """The k-th rename of the commit fails (I/O error): outputs already swapped in are put back as they were."""
    real = os.replace
    calls = []

    def replace(src, dst, *args, **kwargs):
        calls.append((src, dst))
        if len(calls) == k:
            raise OSError(errno.EIO, "Input/output error (injected)", str(dst))
        return real(src, dst, *args, **kwargs)

    before = snapshot(work)
    monkeypatch.setattr(os, "replace", replace)
    exc = raised(cloud_mask, work / "x.tif", previous / "m.tif", previous / "c.tif", resolution_m=60)
    monkeypatch.undo()
    assert k == 1 or len(calls) > k, "the rollback made no rename"
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_api_error(exc, OutputWriteError, "nothing was replaced")


class _CancelAt(Feedback):
    """Asks to stop once progress reaches `percent` (95: the last check, just before the commit)."""

    def __init__(self, percent: float) -> None:
        self.percent, self.progress = percent, 0.0

    def set_progress(self, percent: float) -> None:
        self.progress = max(self.progress, percent)

    def is_cancelled(self) -> bool:
        return self.progress >= self.percent

    def info(self, message: str) -> None:
        pass


@pytest.mark.parametrize("percent", [0.0, 95.0], ids=["at-first-patch", "just-before-commit"])
def test_cancel_keeps_previous_outputs(percent, work, previous):
    """Cancelling in QGIS must leave the previous mask usable, however late the cancel comes."""
    before = snapshot(work)
    exc = raised(cloud_mask, work / "x.tif", previous / "m.tif", previous / "c.tif", resolution_m=60,
                 batch_size=1, patch_size=16, overlap=0, feedback=_CancelAt(percent))
    assert_api_error(exc, Cancelled, "no output was written")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_sclmask_damaged_cog_keeps_previous_output(work, scl_raster, sample_masks, monkeypatch):
    """sclmask commits through the same OutputSet: a damaged COG leaves the previous mask in place."""
    out = work / "out"
    _place_previous(out, sample_masks)
    before = snapshot(work)
    _truncate_on_verify(monkeypatch, 1)
    exc = raised(scl_mask, scl_raster, out / "m.tif")
    assert_api_error(exc, OutputWriteError, "the existing outputs were kept")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_reconstruct_damaged_source_keeps_both_previous_outputs(work, sample, mask60, sample_masks, monkeypatch):
    """The reconstruction and its source raster belong together: if the second fails, the first is not replaced."""
    out = work / "out"
    out.mkdir()
    shutil.copyfile(sample_masks / "old_mask.tif", out / "s.tif")  # an earlier source raster
    shutil.copyfile(sample, out / "r.tif")                          # an earlier reconstruction
    before = snapshot(work)
    seen = _truncate_on_verify(monkeypatch, 2)
    exc = raised(reconstruct, sample, mask60, out / "r.tif", source=out / "s.tif")
    assert len(seen) == 2
    assert_api_error(exc, OutputWriteError, "s.cloudfree-", "the existing outputs were kept")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_successful_rerun_replaces_both_outputs(work, previous, sample_masks):
    """A rerun that succeeds must replace the mask and the confidence together (never one new, one old)."""
    inputs_before = snapshot(work / "x.tif")
    old = snapshot(previous)
    proc = cli("cloudmask", "x.tif", "-o", "out/m.tif", "--confidence", "out/c.tif", "--resolution", "60", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "Mask written: out/m.tif" in proc.stdout and "Confidence written: out/c.tif" in proc.stdout
    new = snapshot(previous)
    for name in ("m.tif", "c.tif"):
        assert new[str(previous / name)] != old[str(previous / name)], f"{name} was not replaced"
    for name, fresh in (("m.tif", "mask60.tif"), ("c.tif", "conf60.tif")):
        with rasterio.open(previous / name) as got, rasterio.open(sample_masks / fresh) as want:
            assert np.array_equal(got.read(), want.read()), f"{name} is not the new run's result"
    assert set(new) == set(old)
    assert_unchanged(inputs_before, snapshot(work / "x.tif"))
    assert_no_temporaries(work)


# --- a full disk --------------------------------------------------------------------------------------

def _fill(folder: Path, leave_pages: int) -> None:
    """Fill the file system of `folder` with a filler file, then give back `leave_pages` 4 kB pages."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:  # unbuffered: close() has nothing left to flush
        try:
            while fh.write(b"\0" * 4096):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave_pages * 4096))


@pytest.fixture
def small_disk(work, request):
    """A real 300 kB tmpfs mounted on work/disk (root only); skips when mounting is not possible."""
    disk = work / "disk"
    disk.mkdir()
    if not shutil.which("mount"):
        pytest.skip("no mount command: the fault-injection variant covers the full disk")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({proc.stderr.strip()}): the fault-injection variant covers the full disk")
    request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(disk)], capture_output=True))
    return disk


def test_full_disk_tmpfs_refused_before_writing(work, sample, sample_masks, small_disk):
    """Real tmpfs (300 kB, filled): the up-front space check refuses the run; old outputs stay, exit 2, 'space'."""
    _place_previous(small_disk, sample_masks)
    _fill(small_disk, 0)
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "disk/m.tif", "--confidence", "disk/c.tif", "--resolution", "60", cwd=work)
    assert_cli_error(proc, "No space left on disk", "Free some space or write elsewhere")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


def test_full_disk_tmpfs_during_write(work, sample, sample_masks, small_disk):
    """Real tmpfs with 8 kB left: enough for the estimate, not for the rasters; old outputs stay, exit 2, 'space'."""
    _place_previous(small_disk, sample_masks)
    _fill(small_disk, 2)
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "disk/m.tif", "--confidence", "disk/c.tif", "--resolution", "60", cwd=work)
    assert "Traceback" not in proc.stderr
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)
    assert_cli_error(proc, "space")


def test_full_disk_fault_injection_cli(work, previous):
    """Fault injection (no tmpfs needed): the CLI with shutil.disk_usage reporting 0 bytes free exits 2, 'space'."""
    code = ("import collections, shutil, sys\n"
            "Usage = collections.namedtuple('Usage', 'total used free')\n"
            "shutil.disk_usage = lambda path: Usage(300 << 10, 300 << 10, 0)\n"
            "from cloudfree.cli.main import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    before = snapshot(work)
    proc = subprocess.run([sys.executable, "-c", code, "cloudmask", "x.tif", "-o", "out/m.tif", "--confidence",
                           "out/c.tif", "--resolution", "60"], cwd=work, env=cli_env(), capture_output=True,
                          text=True, timeout=120)
    assert_cli_error(proc, "No space left on out", "0 MB free")
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


# --- killed runs ----------------------------------------------------------------------------------------

def test_sigterm_leaves_no_temporary_and_keeps_previous_output(work, previous):
    """A batch scheduler's SIGTERM mid-run must not leave half-written files or a replaced mask."""
    (previous / "c.tif").unlink()
    (previous / "c.qml").unlink()
    before = snapshot(work)
    log = work.parent / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cloudfree", "cloudmask", "x.tif", "-o", "out/m.tif",
                                 "--confidence", "out/c.tif", "--resolution", "10", "--patch-size", "16",
                                 "--overlap", "8", "--batch-size", "1"],
                                cwd=work, env=cli_env(), stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 60
            while not temporaries(previous) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            if proc.poll() is not None:
                pytest.skip("the run finished before a temporary appeared; nothing to interrupt")
            assert temporaries(previous), "no temporary appeared within 60 s"
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = log.read_text()
    assert status != 0 and "Traceback" not in stderr, stderr[-2000:]
    assert "stopped; no output was written or changed" in stderr
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)


STALE = {
    "dead-run-tif": ".m.cloudfree-{pid}-abcdef12.tif",
    "dead-run-style": ".m.cloudfree-{pid}-0badc0de.qml",
    "dead-run-backup": ".c.cloudfree-{pid}-12345678.bak",
    "dead-run-aux-xml": ".m.cloudfree-{pid}-deadbeef.tif.aux.xml",
}


@pytest.mark.parametrize("case", list(STALE))
def test_stale_temporary_of_dead_run_is_removed(case, work, previous):
    """Temporaries a killed run left behind (its pid is dead) are cleaned by the next run in that folder."""
    stale = previous / STALE[case].format(pid=dead_pid())
    stale.write_bytes(b"half-written by a run that was killed")
    inputs_before = snapshot(work / "x.tif")
    proc = cli("cloudmask", "x.tif", "-o", "out/m.tif", "--resolution", "60", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "Mask written: out/m.tif" in proc.stdout
    assert not stale.exists(), f"{stale.name} of a dead process was not removed"
    assert_unchanged(inputs_before, snapshot(work / "x.tif"))
    assert_no_temporaries(work)


@pytest.mark.parametrize("name", [".m.cloudfree-{live}-abcdef12.tif", ".m.cloudfree-notes.txt",
                                  ".m.cloudfree-{dead}-xyz.tif"],
                         ids=["live-process-temporary", "look-alike-user-file", "not-a-hex-tag"])
def test_files_that_are_not_stale_temporaries_are_kept(name, work, previous):
    """A live run's temporary (here: this test's pid) and user files that merely look alike must never be deleted."""
    keep = previous / name.format(live=os.getpid(), dead=dead_pid())
    keep.write_bytes(b"belongs to someone else")
    before = snapshot(work)
    proc = cli("cloudmask", "x.tif", "-o", "out/m.tif", "--resolution", "60", cwd=work)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "Mask written: out/m.tif" in proc.stdout
    after = snapshot(work)
    assert after[str(keep)] == before[str(keep)], f"{keep.name} was changed or removed"
    assert_kept({k: v for k, v in before.items() if not k.startswith(str(previous / "m."))}, after)
    assert_no_temporaries(work, ignore=[keep])

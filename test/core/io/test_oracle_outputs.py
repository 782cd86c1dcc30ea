"""OutputSet observed on disk: nothing under a final name before the commit, nothing new left after a failure.

Each case writes small rasters through core.io.outputs into an empty folder (or
one holding earlier outputs) and checks the folder's files: which names exist,
their bytes, and their pixels.
"""
import errno
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

import cloudfree.core.io.outputs as outputs
from cloudfree.core.io.grid import Grid
from cloudfree.core.io.outputs import MASK_STYLE, OutputSet, OutputWriteError, remove_stale_temporaries

GRID = Grid("EPSG:32633", Affine(20, 0, 500000, 0, -20, 6000000), 40, 24)
PIXELS = (np.arange(40 * 24) % 4).astype(np.uint8).reshape(24, 40)


def _files(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _write(outs: OutputSet, final: Path, value_offset: int = 0) -> Path:
    writer = outs.writer(final, GRID, 1, "uint8", 255, ["classes"])
    writer.write(PIXELS[:12] + value_offset, Window(0, 0, 40, 12))
    writer.write(PIXELS[12:] + value_offset, Window(0, 12, 40, 12))
    writer.close()
    outs.publish(writer.path, final, "NEAREST", MASK_STYLE)
    return writer.path


def _pixels(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_nothing_appears_under_the_final_names_before_the_commit(tmp_path, monkeypatch):
    final = tmp_path / "mask.tif"
    seen_at_verify = []
    real_verify = outputs.verify_raster

    def verify(path):
        seen_at_verify.append((Path(path).name, final.exists(), final.with_suffix(".qml").exists()))
        return real_verify(path)

    monkeypatch.setattr(outputs, "verify_raster", verify)
    with OutputSet() as outs:
        temp = _write(outs, final)
        assert temp.parent == tmp_path and temp.name.startswith(".mask.cloudfree-") and temp.suffix == ".tif"
        assert [p.name for p in tmp_path.iterdir()] == [temp.name]     # only the hidden temporary
        outs.commit()
        assert seen_at_verify and all(not tif and not qml for _, tif, qml in seen_at_verify)
        assert all(name.startswith(".mask.cloudfree-") for name, _, _ in seen_at_verify)  # a COG beside, not final
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.qml", "mask.tif"]
    np.testing.assert_array_equal(_pixels(final), PIXELS)
    assert final.with_suffix(".qml").read_bytes() == MASK_STYLE.read_bytes()
    with rasterio.open(final) as ds:
        assert ds.driver == "GTiff" and ds.nodata == 255 and ds.descriptions == ("classes",)
        assert ds.transform == GRID.transform and ds.crs.to_epsg() == 32633


def test_earlier_outputs_stay_byte_identical_until_the_commit_replaces_them(tmp_path):
    final = tmp_path / "mask.tif"
    with OutputSet() as outs:
        _write(outs, final)
        outs.commit()
    before = _files(tmp_path)
    with OutputSet() as outs:
        _write(outs, final, value_offset=10)
        assert {k: v for k, v in _files(tmp_path).items() if not k.startswith(".")} == before
        outs.commit()
    assert sorted(_files(tmp_path)) == ["mask.qml", "mask.tif"]
    np.testing.assert_array_equal(_pixels(final), PIXELS + 10)


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4])
def test_a_commit_failing_at_any_rename_leaves_an_empty_folder_empty(tmp_path, monkeypatch, failing_call):
    """Two outputs, four renames into place (tif, qml, tif, qml): whichever fails, none of them remains."""
    calls = _commit_failing_at(monkeypatch, failing_call, tmp_path / "mask.tif", tmp_path / "confidence.tif")
    assert calls[:failing_call] == ["mask.tif", "mask.qml", "confidence.tif", "confidence.qml"][:failing_call]
    assert list(tmp_path.iterdir()) == []


def test_two_outputs_sharing_a_style_name_are_both_rolled_back(tmp_path, monkeypatch):
    """m.tif and m.tiff both bring m.qml: the second m.qml backs up the first (new) one, so the rollback
    must undo the renames last first, or that backup comes back as a left-over style."""
    # m.tif, m.qml, m.tiff, the first m.qml aside, the second m.qml: fails
    calls = _commit_failing_at(monkeypatch, 5, tmp_path / "m.tif", tmp_path / "m.tiff")
    assert calls[:5] == ["m.tif", "m.qml", "m.tiff", calls[3], "m.qml"] and calls[3].endswith(".bak")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_commit_puts_back_what_it_replaced_and_removes_what_it_added(tmp_path, monkeypatch):
    with OutputSet() as outs:
        _write(outs, tmp_path / "mask.tif")
        outs.commit()
    before = _files(tmp_path)
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "confidence.qml":
            raise OSError(errno.EIO, "Input/output error (injected)", str(dst))
        return real(src, dst)

    with pytest.raises(OutputWriteError):
        with OutputSet() as outs:
            _write(outs, tmp_path / "mask.tif", value_offset=10)
            _write(outs, tmp_path / "confidence.tif")
            monkeypatch.setattr(os, "replace", replace)
            outs.commit()
    monkeypatch.undo()
    assert _files(tmp_path) == before


def test_a_failure_after_the_commit_inside_the_block_rolls_everything_back(tmp_path):
    with pytest.raises(RuntimeError, match="after commit"):
        with OutputSet() as outs:
            _write(outs, tmp_path / "mask.tif")
            outs.commit()
            assert (tmp_path / "mask.tif").is_file()
            raise RuntimeError("after commit")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_before_the_commit_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError, match="cancelled"):
        with OutputSet() as outs:
            _write(outs, tmp_path / "mask.tif")
            raise RuntimeError("cancelled")
    assert list(tmp_path.iterdir()) == []


def test_a_source_that_cannot_be_converted_replaces_nothing(tmp_path):
    with OutputSet() as outs:
        _write(outs, tmp_path / "mask.tif")
        outs.commit()
    before = _files(tmp_path)
    with pytest.raises(OutputWriteError):
        with OutputSet() as outs:
            _write(outs, tmp_path / "mask.tif", value_offset=10)
            outs.publish(tmp_path / "missing.tif", tmp_path / "confidence.tif", "AVERAGE", None)
            outs.commit()
    assert _files(tmp_path) == before


def test_stale_temporaries_of_dead_runs_only_are_removed(tmp_path):
    dead = 2 ** 22 + 12345                       # above any pid this machine hands out
    names = [f".mask.cloudfree-{dead}-0123abcd.tif", f".mask.cloudfree-{dead}-0123abcd.tif.aux.xml",
             f".mask.cloudfree-{os.getpid()}-89abcdef.tif", ".mask.cloudfree-1-zzzzzzzz.tif", "mask.tif"]
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.name for p in removed) == sorted(names[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])


def _commit_failing_at(monkeypatch, failing_call: int, *finals: Path) -> list:
    """Write `finals` in one OutputSet and commit with the `failing_call`-th rename failing (EIO); return the
    names each rename targeted. The commit must fail saying nothing was replaced."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(Path(dst).name)
        if len(calls) == failing_call:
            raise OSError(errno.EIO, "Input/output error (injected)", str(dst))
        return real(src, dst)

    with pytest.raises(OutputWriteError, match="(?i)nothing was replaced"):
        with OutputSet() as outs:
            for final in finals:
                _write(outs, final)
            monkeypatch.setattr(os, "replace", replace)
            outs.commit()
    monkeypatch.undo()
    return calls

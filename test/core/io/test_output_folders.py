"""A missing output folder is created by the run, and removed again when the run fails."""
from __future__ import annotations

import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.cli.main import main
from cloudfree.core.errors import Cancelled, InputError
from cloudfree.core.progress import Feedback
from conftest import SAMPLE


def test_missing_output_folders_are_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "mask.tif"
    result = cloud_mask(SAMPLE, out, resolution_m=20)
    with rasterio.open(out) as mask:
        assert mask.count == 1 and result.cloud_percent > 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["mask.qml", "mask.tif"]


class CancelHalfway(Feedback):
    """Cancels once a tenth is done, noting whether the output folder existed by then."""

    def __init__(self, folder) -> None:
        self.progress, self.folder, self.folder_existed = 0.0, folder, False

    def set_progress(self, percent: float) -> None:
        self.progress = percent

    def is_cancelled(self) -> bool:
        if self.progress > 10.0:
            self.folder_existed = self.folder.is_dir()
            return True
        return False


def test_a_failed_run_removes_the_folders_it_made(tmp_path):
    out = tmp_path / "new" / "deeper" / "mask.tif"
    feedback = CancelHalfway(out.parent)
    with pytest.raises(Cancelled):
        cloud_mask(SAMPLE, out, resolution_m=10, patch_size=64, overlap=8, batch_size=1, feedback=feedback)
    assert feedback.folder_existed
    assert main(["cloudmask", str(SAMPLE), "-o", str(out), "--cloud-threshold", "0"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_named(tmp_path):
    (tmp_path / "plain").write_text("not a folder")
    with pytest.raises(InputError, match="plain is a file, not a folder"):
        cloud_mask(SAMPLE, tmp_path / "plain" / "sub" / "mask.tif", resolution_m=20)

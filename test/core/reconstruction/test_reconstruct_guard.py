"""Single-image reconstruction refuses, with the figures, a scene that is mostly masked."""
from __future__ import annotations

import pytest
import rasterio

from cloudfree.core.api import cloud_mask
from cloudfree.cli.main import main
from cloudfree.core.errors import InputError
from cloudfree.core.progress import Feedback
from cloudfree.core.reconstruction.reconstruct import reconstruct
from conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_mask(tmp_path_factory):
    path = tmp_path_factory.mktemp("mask") / "mask.tif"
    result = cloud_mask(SAMPLE, path)
    return path, result.cloud_percent  # relit shadows are not invented: only clouds count


def test_a_mostly_masked_scene_is_refused_above_the_limit_with_its_share(sample_mask, tmp_path):
    mask, masked = sample_mask
    assert 50 < masked < 90  # the bundled sample is a cloudy scene
    limit = int(masked) - 5  # below the sample's share, whatever the bundled model calls cloud
    with pytest.raises(InputError, match=rf"{masked:.0f} % of the valid pixels .* above {limit} %"):
        reconstruct(SAMPLE, mask, tmp_path / "r.tif", max_masked_percent=limit)
    assert main(["reconstruct", str(SAMPLE), "--mask", str(mask), "-o", str(tmp_path / "r.tif"),
                 "--max-masked", str(limit)]) == 2
    assert list(tmp_path.iterdir()) == []


def test_above_half_masked_the_run_warns_with_the_figures(sample_mask, tmp_path):
    mask, masked = sample_mask

    class Log(Feedback):
        lines = []

        def info(self, message):
            self.lines.append(message)

    reconstruct(SAMPLE, mask, tmp_path / "r.tif", feedback=Log())
    assert any(f"Warning: {masked:.0f} % of the valid pixels" in line for line in Log.lines)


def test_the_limit_can_be_raised_and_must_be_a_percentage(sample_mask, tmp_path):
    mask, masked = sample_mask
    result = reconstruct(SAMPLE, mask, tmp_path / "r.tif", max_masked_percent=100)
    with rasterio.open(tmp_path / "r.tif") as out:
        assert out.count == 13 and result.filled_pixels > 0
    with pytest.raises(InputError, match="percentage from 0 to 100"):
        reconstruct(SAMPLE, mask, tmp_path / "x.tif", max_masked_percent=150)

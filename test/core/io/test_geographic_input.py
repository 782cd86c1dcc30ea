"""A raster in degrees is masked at the resolution asked for in metres, and the log says degrees."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, calculate_default_transform, reproject

from cloudfree.core.api import cloud_mask
from cloudfree.core.progress import Feedback
from conftest import SAMPLE


class _Log(Feedback):
    def __init__(self) -> None:
        self.lines = []

    def info(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture(scope="module")
def sample_in_degrees(tmp_path_factory):
    """The real UTM sample warped to EPSG:4326 at its own detail (GDAL's default output size)."""
    out = tmp_path_factory.mktemp("geo") / "sample_4326.tif"
    with rasterio.open(SAMPLE) as src:
        transform, width, height = calculate_default_transform(src.crs, "EPSG:4326", src.width, src.height,
                                                               *src.bounds)
        profile = src.profile
        profile.update(crs="EPSG:4326", transform=transform, width=width, height=height, nodata=0)
        with rasterio.open(out, "w", **profile) as dst:
            for i in range(1, src.count + 1):
                reproject(rasterio.band(src, i), rasterio.band(dst, i), resampling=Resampling.bilinear)
    return out


@pytest.mark.parametrize("resolution", [10, 20])
def test_degrees_follow_the_resolution_in_metres(tmp_path, sample_in_degrees, resolution):
    log = _Log()
    geo = cloud_mask(sample_in_degrees, tmp_path / "geo.tif", resolution_m=resolution, feedback=log)
    utm = cloud_mask(SAMPLE, tmp_path / "utm.tif", resolution_m=resolution)
    with rasterio.open(tmp_path / "geo.tif") as g, rasterio.open(tmp_path / "utm.tif") as u:
        assert g.crs.to_epsg() == 4326
        # about the same number of pixels over the same ground (the warped raster has no-data corners)
        assert 0.85 < (g.width * g.height) / (u.width * u.height) < 1.3
        deg_x = abs(g.transform.a) * 111_320 * np.cos(np.radians((g.bounds.top + g.bounds.bottom) / 2))
        assert abs(deg_x - resolution) / resolution < 0.15
    assert abs(geo.cloud_percent - utm.cloud_percent) < 3.0
    grid_line = next(line for line in log.lines if "grid" in line)
    assert "degrees (about" in grid_line and " m at" not in grid_line

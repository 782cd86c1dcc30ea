"""Shadow geometry: shadow is kept where a cloud casts it and made clear where no cloud can."""
from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from rasterio.transform import from_origin

from cloudfree.core.masking import class_raster
from cloudfree.core.api import cloud_mask
from cloudfree.core.masking.class_raster import finish_class_raster
from cloudfree.core.io.grid import Grid
from cloudfree.core.io.outputs import OutputSet
from cloudfree.core.progress import Feedback
from cloudfree.core.io.safe import open_safe
from cloudfree.core.masking.shadow_geometry import (GeometryInput, SunAngles, confirm_shadows, estimate_azimuth,
                                            shadow_step)

PIXEL_M = 60.0
SIZE = 1000   # 60 km: a lake's up-sun reach (12 km) stays inside the image, as in a real tile


def _square(classes: np.ndarray, row: int, col: int, half: int, value: int) -> None:
    classes[row - half:row + half, col - half:col + half] = value


def _cast(row: int, col: int, sun: SunAngles, height_m: float) -> tuple:
    """Where geometry puts the shadow of a cloud at (row, col): rows grow southward, columns eastward."""
    distance_px = height_m * math.tan(math.radians(sun.zenith_deg)) / PIXEL_M
    az = math.radians(sun.azimuth_deg)
    # the shadow lies away from the sun: north component -cos(az), east component -sin(az)
    return int(round(row + distance_px * math.cos(az))), int(round(col - distance_px * math.sin(az)))


def _scene(sun: SunAngles, height_m: float = 4000.0) -> tuple:
    """One cloud, its true shadow, and a dark lake on the sun side of the cloud (no cloud can cast it)."""
    classes = np.zeros((SIZE, SIZE), np.uint8)
    centre = SIZE // 2
    _square(classes, centre, centre, 20, 1)
    shadow_at = _cast(centre, centre, sun, height_m)
    _square(classes, *shadow_at, 15, 3)
    az = math.radians(sun.azimuth_deg)  # 100 px towards the sun
    lake_at = (int(round(centre - 100 * math.cos(az))), int(round(centre + 100 * math.sin(az))))
    _square(classes, *lake_at, 15, 3)
    return classes, shadow_at, lake_at


@pytest.mark.parametrize("azimuth", [135.0, 315.0, 200.0])
def test_known_sun_keeps_the_cast_shadow_and_clears_the_sunward_lake(azimuth):
    sun = SunAngles(45.0, azimuth)
    classes, shadow_at, lake_at = _scene(sun)
    out, report = confirm_shadows(classes, PIXEL_M, sun)
    assert (out[shadow_at[0] - 15:shadow_at[0] + 15, shadow_at[1] - 15:shadow_at[1] + 15] == 3).all()
    assert (out[lake_at[0] - 15:lake_at[0] + 15, lake_at[1] - 15:lake_at[1] + 15] == 0).all()
    assert report.removed == 30 * 30 and report.direction == "sun angles"
    assert ((out == 1) == (classes == 1)).all()  # clouds untouched


def test_azimuth_135_casts_shadow_to_the_north_west():
    """An independent check of the convention: sun in the south-east, shadow up and to the left."""
    dy, dx = shadow_step(135.0)
    assert dy < 0 and dx < 0 and abs(abs(dy) - abs(dx)) < 1e-9


def test_shadow_beyond_the_highest_cloud_is_cleared():
    """12 km is the highest cloud: a dark patch 30 km down-sun of the only cloud has no caster."""
    sun = SunAngles(30.0, 180.0)  # noon sun in the south: shadows fall north (up)
    classes = np.zeros((SIZE, 300), np.uint8)
    _square(classes, 900, 150, 20, 1)
    far = _cast(900, 150, sun, 40000.0)
    near = _cast(900, 150, sun, 5000.0)
    _square(classes, *far, 10, 3)
    _square(classes, *near, 10, 3)
    out, _ = confirm_shadows(classes, PIXEL_M, sun)
    assert (out[far[0] - 10:far[0] + 10, far[1] - 10:far[1] + 10] == 0).all()
    assert (out[near[0] - 10:near[0] + 10, near[1] - 10:near[1] + 10] == 3).all()


def test_shadow_whose_cloud_may_be_outside_the_image_is_kept():
    sun = SunAngles(45.0, 180.0)  # shadows fall north: a shadow near the south edge may have its cloud beyond it
    classes = np.zeros((SIZE, SIZE), np.uint8)
    _square(classes, 100, 100, 20, 1)
    _square(classes, SIZE - 15, 600, 10, 3)   # 15 px from the south edge, no cloud south of it inside the image
    _square(classes, 300, 600, 10, 3)         # 700 px (42 km) from the south edge, no cloud south of it
    out, _ = confirm_shadows(classes, PIXEL_M, sun)
    assert (out[SIZE - 25:SIZE - 5, 590:610] == 3).all()
    assert (out[290:310, 590:610] == 0).all()


def test_direction_is_estimated_from_the_scene_without_sun_angles():
    sun = SunAngles(40.0, 160.0)
    rng = np.random.default_rng(3)
    classes = np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(12):
        r, c = rng.integers(550, 900, 2)
        _square(classes, r, c, 12, 1)
        _square(classes, *_cast(r, c, sun, float(rng.uniform(3000, 5000))), 12, 3)
    # a lake north of every cloud's shadow (up to 3x the offset, the reach used without a zenith): no caster
    _square(classes, 60, 500, 20, 3)
    azimuth, distance_m, how = estimate_azimuth(classes == 1, classes == 3, PIXEL_M)
    assert how == "estimated from the scene"
    assert abs((azimuth - sun.azimuth_deg + 180) % 360 - 180) < 12
    assert 2000 < distance_m < 5000
    out, report = confirm_shadows(classes, PIXEL_M, None)
    assert report.azimuth_deg is not None and (out[40:80, 480:520] == 0).all()
    cast = classes == 3
    cast[40:80, 480:520] = False
    assert (out[cast] == 3).mean() > 0.99  # the real shadows stay (a pixel may fall to the estimate's rounding)


def test_no_common_offset_leaves_the_classes_as_they_are():
    rng = np.random.default_rng(0)
    classes = np.zeros((SIZE, SIZE), np.uint8)
    _square(classes, 500, 500, 30, 1)
    noise = rng.random((SIZE, SIZE)) < 0.02  # scattered dark pixels: no displacement matches the cloud
    classes[noise & (classes == 0)] = 3
    out, report = confirm_shadows(classes, PIXEL_M, None)
    assert report.azimuth_deg is None and "skipped" in report.describe()
    assert np.array_equal(out, classes)


@pytest.mark.parametrize("in_memory_pixels", [SIZE * SIZE, SIZE * SIZE - 1], ids=["in memory", "on disk"])
def test_striped_finishing_matches_the_whole_array(tmp_path, monkeypatch, in_memory_pixels):
    """The engine applies the zone strip by strip (with the buffer's halo): the same classes as in memory,
    whether the undecided classes wait in memory or (a raster over the budget) in a temporary file."""
    monkeypatch.setattr(class_raster, "STRIP_ROWS", 48)
    sun = SunAngles(45.0, 135.0)
    classes, _, _ = _scene(sun)
    classes[:, :7] = 255  # a no-data edge
    grid = Grid("EPSG:32633", from_origin(500000, 5800000, PIXEL_M, PIXEL_M), SIZE, SIZE)
    final = tmp_path / "mask.tif"
    with OutputSet() as outs:
        scratch = class_raster.ClassScratch(outs, final, grid, in_memory_pixels=in_memory_pixels)
        assert scratch.in_memory == (in_memory_pixels >= SIZE * SIZE)
        for y in range(0, SIZE, 37):  # rows arrive in blocks, as the engine's blender finishes them
            scratch.write(classes[y:y + 37], Window(0, y, SIZE, min(37, SIZE - y)))
        stats = finish_class_raster(scratch, final, outs, 2, GeometryInput(PIXEL_M, sun))
        outs.commit()
    expected, report = confirm_shadows(classes, PIXEL_M, sun)
    with rasterio.open(final) as src:
        got = src.read(1)
    from cloudfree.core.masking.morphology import buffer_classes
    assert np.array_equal(got, buffer_classes(expected, 2))
    assert stats.geometry.removed == report.removed == 30 * 30
    assert stats.counts[3] == int((got == 3).sum())


def test_safe_product_carries_its_tile_sun_angles(tmp_path, data_dir):
    from test.safe_fixture import L1C_N0301
    meta = data_dir / "safe_metadata" / L1C_N0301
    tl = next(meta.glob("GRANULE/*/MTD_TL.xml")).read_text()
    block = re.search(r"<Mean_Sun_Angle>(.*?)</Mean_Sun_Angle>", tl, re.S).group(1)
    zenith = float(re.search(r"<ZENITH_ANGLE[^>]*>([^<]+)<", block).group(1))
    azimuth = float(re.search(r"<AZIMUTH_ANGLE[^>]*>([^<]+)<", block).group(1))
    product = open_safe(meta)
    assert product.sun == SunAngles(zenith, azimuth)
    # a tile whose mean angles are NaN (it happens at the edge of a swath) gives none, not NaN
    copy = tmp_path / L1C_N0301
    shutil.copytree(meta, copy)
    tl_path = next(copy.glob("GRANULE/*/MTD_TL.xml"))
    tl_path.write_text(tl.replace(block, re.sub(r">[-\d.]+<", ">NaN<", block)))
    assert open_safe(copy).sun is None


class _Log(Feedback):
    def __init__(self) -> None:
        self.lines = []

    def info(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.parametrize("on", [True, False])
def test_a_safe_product_is_checked_with_its_own_sun_angles(safe_l1c, tmp_path, on):
    """The engine passes the product's sun to the check (the log states it); switched off, no check runs."""
    log = _Log()
    result = cloud_mask(safe_l1c, tmp_path / "mask.tif", resolution_m=60, feedback=log, shadow_geometry=on)
    said = [line for line in log.lines if "shadow geometry" in line]
    sun = open_safe(safe_l1c).sun
    if on:
        assert said and f"sun angles: sun azimuth {sun.azimuth_deg:.0f} deg" in said[0]
        assert result.stats.geometry is not None and result.stats.geometry.azimuth_deg == sun.azimuth_deg
    else:
        assert not said and result.stats.geometry is None

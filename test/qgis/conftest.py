"""Headless QGIS fixtures: the CloudFree provider registered once per session.

pytest-qgis starts QgsApplication; without a display it must run offscreen.
"""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SAMPLE_L1C = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
LAYTON_SCL = DATA / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"




@pytest.fixture(scope="session")
def layton_scl() -> Path:
    if not LAYTON_SCL.is_file():
        pytest.fail(f"The real SCL raster {LAYTON_SCL} is missing; clone the repository with ../shared beside it.")
    return LAYTON_SCL

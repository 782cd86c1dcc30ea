"""Shared fixtures: real data paths and small real .SAFE products built once per run."""
import os
import sys
from pathlib import Path

import pytest

# GDAL writes statistics QGIS computes into <raster>.aux.xml beside the raster: in ../shared/data that would
# change the shared data. Every output CloudFree writes keeps its metadata inside the GeoTIFF.
os.environ.setdefault("GDAL_PAM_ENABLED", "NO")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # test helpers (safe_fixture, onnx_models) import by name

import safe_fixture  # noqa: E402

DATA = safe_fixture.DATA
SAMPLE = HERE.parent / "sample" / "sen12mscr_cloudy_l1c.tif"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"The real data folder {DATA} is missing; clone the repository with ../shared beside it.")
    return DATA


@pytest.fixture(scope="session")
def safe_l1c(tmp_path_factory, data_dir) -> Path:
    return safe_fixture.build_safe(tmp_path_factory.mktemp("l1c"), safe_fixture.L1C_N0301)


@pytest.fixture(scope="session")
def safe_l2a_offset(tmp_path_factory, data_dir) -> Path:
    """Baseline 05.09: DN stored with +1000, metadata says BOA_ADD_OFFSET -1000."""
    return safe_fixture.build_safe(tmp_path_factory.mktemp("l2a_n0509"), safe_fixture.L2A_N0509, dn_offset=1000)


@pytest.fixture(scope="session")
def safe_l2a_old(tmp_path_factory, data_dir) -> Path:
    return safe_fixture.build_safe(tmp_path_factory.mktemp("l2a_n0212"), safe_fixture.L2A_N0212)


@pytest.fixture(scope="session")
def cloudfree_provider(qgis_processing):
    """The CloudFree provider registered (once) in headless QGIS; for test/qgis and test/reliability."""
    from qgis.core import QgsApplication

    from cloudfree.algorithms.provider import CloudFreeProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("cloudfree")
    if provider is None:
        provider = CloudFreeProvider()
        assert registry.addProvider(provider)
    yield provider

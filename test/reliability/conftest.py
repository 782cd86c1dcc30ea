"""Fixtures of the reliability suite: fresh copies of real inputs in a per-test folder.

Inputs are always copies (never the repository's sample or ../shared/data),
so a case in which the engine did write over an input damages only the copy
and the snapshot comparison reports it.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

# Appended, not prepended: `from conftest import ...` elsewhere in the tests must keep finding test/conftest.py.
sys.path.append(str(Path(__file__).resolve().parent))

import reliability_kit as kit  # noqa: E402


@pytest.fixture
def work(tmp_path) -> Path:
    """The folder each case runs in (the CLI's working directory)."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


@pytest.fixture
def sample(work) -> Path:
    """The bundled 13-band L1C sample copied into the work folder as x.tif."""
    return Path(shutil.copy2(kit.SAMPLE, work / "x.tif"))


@pytest.fixture(scope="session")
def sample_masks(tmp_path_factory):
    """Real CloudFree masks (and confidence) of the sample, made once: at 60 m, at 10 m, and an older run at 20 m."""
    from cloudfree.core.api import cloud_mask
    folder = tmp_path_factory.mktemp("sample_masks")
    src = Path(shutil.copy2(kit.SAMPLE, folder / "x.tif"))
    cloud_mask(src, folder / "mask60.tif", folder / "conf60.tif", resolution_m=60)
    cloud_mask(src, folder / "old_mask.tif", folder / "old_conf.tif", resolution_m=20, buffer_px=2)
    cloud_mask(src, folder / "mask10.tif", resolution_m=10)
    return folder


@pytest.fixture
def mask60(work, sample_masks) -> Path:
    """A real 60 m mask of the sample, copied into the work folder as mask.tif."""
    return Path(shutil.copy2(sample_masks / "mask60.tif", work / "mask.tif"))


@pytest.fixture
def product(work, safe_l1c) -> Path:
    """A real small L1C .SAFE (baseline 03.01) cloned into the work folder (bands hard-linked)."""
    return kit.clone_product(safe_l1c, work)


@pytest.fixture
def product_copy(work, safe_l1c) -> Path:
    """The L1C .SAFE with its band files really copied, for cases that damage them."""
    return kit.clone_product(safe_l1c, work, link=False)


@pytest.fixture
def product_l2a(work, safe_l2a_offset) -> Path:
    """A real small L2A .SAFE of baseline 05.09 (BOA_ADD_OFFSET -1000) cloned into the work folder."""
    return kit.clone_product(safe_l2a_offset, work)


@pytest.fixture
def scl_raster(work) -> Path:
    """Sen2Cor's real SCL of the Layton scene copied into the work folder."""
    if not kit.LAYTON_SCL.is_file():
        pytest.fail(f"The real SCL raster {kit.LAYTON_SCL} is missing; clone the repository with ../shared beside it.")
    dst = work / "scl.tif"
    shutil.copyfile(kit.LAYTON_SCL, dst)
    os.chmod(dst, 0o644)
    return dst



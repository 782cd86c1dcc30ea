"""The CloudFree Processing algorithms run headless through processing.run, on real data."""
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import SAMPLE_L1C  # noqa: F401 - module of this folder, see below

from cloudfree.core.scl import SCL_TO_CLASS

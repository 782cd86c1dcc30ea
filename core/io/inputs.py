"""Deciding what an input is (.SAFE product or plain raster) and opening its bands."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .band_guess import guess_mapping
from .bands import check_mapping, parse_mapping, preset_mapping
from ..errors import InputError
from .input_checks import check_reflectance, check_scaling
from .safe import open_safe
from .sources import RasterLayerSource, SafeSource, open_raster, require_crs

def is_safe_input(path: str | Path) -> bool:
    """True for a .SAFE folder, a .zip, or an MTD_MSIL*.xml file."""
    p = Path(path)
    if p.is_dir():
        return True
    return p.suffix.lower() in (".zip", ".safe") or (p.suffix.lower() == ".xml" and p.name.upper().startswith("MTD_MSIL"))


def raster_mapping(ds, path: str, preset: Optional[str], mapping: Optional[str],
                   dn_offset: float = 0.0) -> Dict[str, int]:
    """The band mapping for an open plain raster: explicit, preset, or Auto (core.io.band_guess)."""
    if mapping:
        return parse_mapping(mapping)
    if preset:
        return preset_mapping(preset)
    return guess_mapping(ds, path, dn_offset)


def available_bands(path: str | Path, band_preset: Optional[str] = None,
                    band_mapping: Optional[str] = None, dn_offset: float = 0.0) -> List[str]:
    """The Sentinel-2 bands an input provides (for choosing a model)."""
    if not str(path):
        raise InputError("No input given; choose a raster layer or a .SAFE product.")
    if not Path(path).exists() and not str(path).startswith("/vsi"):
        raise InputError(f"The input {path} does not exist.")
    if is_safe_input(path):
        return [b for b in open_safe(path).files if b != "SCL"]
    with open_raster(str(path)) as ds:
        require_crs(ds, str(path))
        count = ds.count
        mapping = raster_mapping(ds, str(path), band_preset, band_mapping, dn_offset)
    check_mapping(mapping, count, list(mapping))  # a band beyond the raster is an error, not a missing band
    return list(mapping)


def open_band_source(path: str | Path, bands: Sequence[str], resolution_m: Optional[int],
                     band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                     dn_scale: Optional[float] = None, dn_offset: float = 0.0):
    """A windowed reflectance reader for the bands a model needs."""
    if not str(path):
        raise InputError("No input given; choose a raster layer or a .SAFE product.")
    if not Path(path).exists() and not str(path).startswith("/vsi"):
        raise InputError(f"The input {path} does not exist.")
    check_scaling(dn_scale, dn_offset)
    source: SafeSource | RasterLayerSource
    if is_safe_input(path):
        source = SafeSource(open_safe(path), bands, resolution_m or 20)
    else:
        with open_raster(str(path)) as ds:
            require_crs(ds, str(path))
            dtype = ds.dtypes[0]
            if dtype in ("uint8", "int8") and dn_scale is None:
                mapping = None  # refused below, before any guess at the band order
            else:
                mapping = raster_mapping(ds, str(path), band_preset, band_mapping, dn_offset)
        if mapping is None:
            raise InputError(
                f"{Path(str(path)).name} holds 8-bit values (0-255): a display image, not reflectance or Sentinel-2 "
                "DN, and masks computed from it would be wrong. Use the bands as reflectance or DN; if the values "
                "really are reflectance x 255, give the DN scale 255 (--dn-scale 255, or dn_scale=255 in Python).")
        source = RasterLayerSource(str(path), mapping, bands, resolution_m, dn_scale, dn_offset)
    try:
        check_reflectance(source, Path(str(path)).name, list(bands))
    except BaseException:
        source.close()
        raise
    return source

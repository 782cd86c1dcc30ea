"""Deciding what an input is (.SAFE product or plain raster) and opening its bands."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import rasterio

from .band_guess import guess_mapping
from .bands import check_mapping, parse_mapping, preset_mapping
from ..errors import InputError, option
from .input_checks import check_reflectance, check_scaling
from .safe import SafeProduct, open_safe
from .sources import RasterLayerSource, SafeSource, open_raster, require_crs


def is_safe_input(path: str | Path) -> bool:
    """True for a folder (open_safe then says what a folder lacks to be a .SAFE product), a .zip or .SAFE
    path, or an MTD_MSIL*.xml file: every input that is read as a product rather than as one raster."""
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


def _check_given(path: str | Path) -> None:
    if not str(path):
        raise InputError("No input given; choose a raster layer or a .SAFE product.")
    if not Path(path).exists() and not str(path).startswith("/vsi"):
        raise InputError(f"The input {path} does not exist.")


class OpenedInput:
    """An input opened once: a .SAFE product's metadata parsed, or a raster's dataset open with its band mapping.

    Choosing a model (which bands are there), opening the band source and
    checking it all use this one opening, as rasterio's `with open(...)`
    would: `with open_input(path) as opened: source = open_band_source(opened, ...)`.
    A band source made from it takes the dataset over; closing the input
    then leaves the source open.
    """

    def __init__(self, path: str | Path, band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                 dn_offset: float = 0.0) -> None:
        _check_given(path)
        self.path = str(path)
        self.band_preset, self.band_mapping, self.dn_offset = band_preset, band_mapping, dn_offset
        self.product: Optional[SafeProduct] = None
        self.ds: Optional[rasterio.DatasetReader] = None
        self._mapping: Optional[Dict[str, int]] = None
        if is_safe_input(path):
            self.product = open_safe(path)
        else:
            self.ds = open_raster(self.path)
            try:
                require_crs(self.ds, self.path)
            except BaseException:
                self.close()
                raise

    @property
    def mapping(self) -> Dict[str, int]:
        """A plain raster's band mapping (explicit, preset or Auto), decided once."""
        if self._mapping is None:
            if self.ds is None:
                raise InputError(f"{self.path} is a .SAFE product; its bands need no mapping.")
            self._mapping = raster_mapping(self.ds, self.path, self.band_preset, self.band_mapping, self.dn_offset)
        return self._mapping

    @property
    def bands(self) -> List[str]:
        """The Sentinel-2 bands the input provides (for choosing a model)."""
        if self.product is not None:
            return [b for b in self.product.files if b != "SCL"]
        assert self.ds is not None
        check_mapping(self.mapping, self.ds.count, list(self.mapping))  # a band beyond the raster is an error
        return list(self.mapping)

    def take_dataset(self) -> rasterio.DatasetReader:
        """The open dataset, handed to a band source that closes it from now on."""
        assert self.ds is not None
        ds, self.ds = self.ds, None
        return ds

    def close(self) -> None:
        if self.ds is not None:
            self.ds.close()
            self.ds = None

    def __enter__(self) -> "OpenedInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_input(path: str | Path, band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
               dn_offset: float = 0.0) -> OpenedInput:
    """Open an input once (see OpenedInput)."""
    return OpenedInput(path, band_preset, band_mapping, dn_offset)


def available_bands(path: str | Path, band_preset: Optional[str] = None,
                    band_mapping: Optional[str] = None, dn_offset: float = 0.0) -> List[str]:
    """The Sentinel-2 bands an input provides (for choosing a model)."""
    with open_input(path, band_preset, band_mapping, dn_offset) as opened:
        return opened.bands


def open_band_source(path: str | Path | OpenedInput, bands: Sequence[str], resolution_m: Optional[int],
                     band_preset: Optional[str] = None, band_mapping: Optional[str] = None,
                     dn_scale: Optional[float] = None, dn_offset: float = 0.0):
    """A windowed reflectance reader for the bands a model needs, from a path or an input opened before.

    Given an OpenedInput, its preset, mapping and offset are the ones it was
    opened with, and the source takes over its dataset.
    """
    if not isinstance(path, OpenedInput):
        _check_given(path)
    check_scaling(dn_scale, dn_offset)
    if isinstance(path, OpenedInput):
        opened, own = path, False
    else:
        opened, own = open_input(path, band_preset, band_mapping, dn_offset), True
    name = Path(opened.path).name
    source: SafeSource | RasterLayerSource
    try:
        if opened.product is not None:
            source = SafeSource(opened.product, bands, resolution_m or 20)
        else:
            assert opened.ds is not None
            if opened.ds.dtypes[0] in ("uint8", "int8") and dn_scale is None:  # refused before any band guess
                raise InputError(
                    f"{name} holds 8-bit values (0-255): a display image, not reflectance or Sentinel-2 "
                    "DN, and masks computed from it would be wrong. Use the bands as reflectance or DN; if the values "
                    f"really are reflectance x 255, give the DN scale 255 ({option('dn_scale', '255')}).")
            mapping = opened.mapping
            source = RasterLayerSource(opened.path, mapping, bands, resolution_m, dn_scale, opened.dn_offset,
                                       ds=opened.take_dataset())
    finally:
        if own:
            opened.close()
    try:
        check_reflectance(source, name, list(bands))
    except BaseException:
        source.close()
        raise
    return source

"""Turning reflectance back into an input's stored values (DN) and data type.

Reconstructions are written in the scale and data type of the input they
replace, so that they drop into the user's workflow where the input was.
Reflectance read as float32 from 16-bit DN and turned back with rounding
gives the same DN exactly (the float32 error is below 0.01 DN), which is
what lets clear pixels come out bit for bit identical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class DnCodec:
    """reflectance = (DN + offset) / divisor, per band; and the file's data type and no-data value."""

    dtype: str
    offsets: Tuple[float, ...]
    divisors: Tuple[float, ...]
    nodata: Optional[float]

    @classmethod
    def of(cls, source) -> "DnCodec":
        """The codec of an opened band source (a plain raster's scale, or a product's per-band offsets)."""
        if hasattr(source, "scales"):  # SafeSource: product metadata, 0 = no data
            return cls(source.dtype, tuple(float(o) for o, _ in source.scales),
                       tuple(float(d) for _, d in source.scales), 0.0)
        n = len(source.bands)
        return cls(source.dtype, (float(source.dn_offset),) * n, (float(source.dn_scale),) * n, source.nodata)

    def decode(self, dn: np.ndarray) -> np.ndarray:
        """(bands, ...) stored values -> float32 reflectance (the inverse of encode)."""
        shape = (-1,) + (1,) * (dn.ndim - 1)
        off = np.asarray(self.offsets, np.float32).reshape(shape)
        div = np.asarray(self.divisors, np.float32).reshape(shape)
        return (dn.astype(np.float32) + off) / div

    def valid(self, dn: np.ndarray) -> np.ndarray:
        """Pixels of a (bands, h, w) block that hold data: no band at the no-data value (or NaN)."""
        ok = np.ones(dn.shape[1:], bool)
        if np.issubdtype(dn.dtype, np.floating):
            ok &= np.all(np.isfinite(dn), axis=0)
        if self.nodata is not None and not np.isnan(self.nodata):
            ok &= ~np.any(dn == self.nodata, axis=0)
        return ok

    def encode(self, reflectance: np.ndarray) -> np.ndarray:
        """(bands, ...) reflectance -> DN in this data type, rounded and clipped to its range.

        Values that would read back as no data (the no-data value in a band, or
        all bands 0 where the file has no no-data value) are moved one DN away,
        so that a filled pixel is never mistaken for a gap.
        """
        shape = (-1,) + (1,) * (reflectance.ndim - 1)
        off = np.asarray(self.offsets, np.float64).reshape(shape)
        div = np.asarray(self.divisors, np.float64).reshape(shape)
        value = reflectance.astype(np.float64) * div - off
        dt = np.dtype(self.dtype)
        if not np.issubdtype(dt, np.integer):
            out = value.astype(dt)
            if self.nodata is not None and not np.isnan(self.nodata):
                out[out == self.nodata] = np.nextafter(dt.type(self.nodata), dt.type(np.inf))
            return out
        info = np.iinfo(dt)
        out = np.clip(np.rint(value), info.min, info.max).astype(dt)
        if self.nodata is not None and not np.isnan(self.nodata):
            hit = out == self.nodata
            out[hit] = self.nodata + 1 if self.nodata < info.max else self.nodata - 1
        else:
            empty = np.all(out == 0, axis=0)
            out[:, empty] = 1
        return out

    def dn_of(self, reflectance: float) -> Tuple[float, ...]:
        """The DN of one reflectance value in every band (for display stretches)."""
        return tuple(reflectance * d - o for o, d in zip(self.offsets, self.divisors))

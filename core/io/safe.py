"""Sentinel-2 .SAFE products: find the band files and the radiometric scaling.

Only the product metadata (MTD_MSIL1C.xml / MTD_MSIL2A.xml) is trusted for the
scaling: from processing baseline 04.00 the DN carry an additive offset
(RADIO_ADD_OFFSET in L1C, BOA_ADD_OFFSET in L2A), and getting it wrong ruins
every model silently, so a product that should have one and does not is refused.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, List, Optional, Tuple

from .bands import ALL_BANDS, NATIVE_RESOLUTION_M
from ..errors import SafeProductError

#: Product metadata is a few hundred kB; anything far larger is refused unread (a zip bomb, a wrong file).
MAX_METADATA_BYTES = 32 * 1024 * 1024
_BASELINE_RE = re.compile(r"^\d{1,2}\.\d{1,2}$")
_MTD_RE = re.compile(r"(^|/)MTD_MSIL(1C|2A)\.xml$", re.IGNORECASE)
_BAND_RE = re.compile(r"_(B\d[\dA]|SCL)(?:_(\d+)m)?$")


@dataclass(frozen=True)
class SunAngles:
    """The mean sun angles of a product (MTD_TL.xml), what shadow geometry needs."""

    zenith_deg: float
    azimuth_deg: float   # clockwise from north


@dataclass(frozen=True)
class SafeProduct:
    """What CloudFree reads from a product: level, baseline, scaling, band files."""

    path: Path
    level: str  # "L1C" or "L2A"
    baseline: str
    spacecraft: str
    sensing_time: str
    tile: str
    quantification: float
    offsets: Dict[str, float]
    #: band -> {resolution_m: GDAL path}; SCL included for L2A.
    files: Dict[str, Dict[int, str]] = field(repr=False)
    #: the tile's mean sun angles (MTD_TL.xml), None when absent or NaN: shadow geometry then estimates them.
    sun: Optional[SunAngles] = None

    @property
    def bands(self) -> List[str]:
        return [b for b in ALL_BANDS if b in self.files]

    def band_file(self, band: str, resolution_m: int) -> Tuple[str, int]:
        """The file of a band best suited to a processing resolution, with its pixel size.

        A file already at the processing resolution wins (L2A ships 20 m and 60 m
        copies); otherwise the finest one, which the reader resamples.
        """
        if band not in self.files:
            raise SafeProductError(
                f"{self.path.name} has no {band} band file ({self.level} products carry "
                f"{', '.join(self.bands)}); choose a model that does not need {band}.")
        options = self.files[band]
        res = resolution_m if resolution_m in options else min(options)
        return options[res], res

    def reflectance_scale(self, band: str) -> Tuple[float, float]:
        """(offset, divisor) so that reflectance = (DN + offset) / divisor."""
        return self.offsets.get(band, 0.0), self.quantification


def _granule_metadata(path: Path, zip_top: Optional[str], image_rel: str) -> Optional[bytes]:
    """The granule's MTD_TL.xml beside the IMG_DATA of `image_rel`, or None when it cannot be read."""
    parts = PurePosixPath(image_rel).parts
    if len(parts) < 3 or parts[0] != "GRANULE":
        return None
    rel = f"GRANULE/{parts[1]}/MTD_TL.xml"
    try:
        if zip_top is None:
            target = path / rel
            if not target.is_file() or target.stat().st_size > MAX_METADATA_BYTES:
                return None
            return target.read_bytes()
        with zipfile.ZipFile(path) as zf, zf.open(f"{zip_top}/{rel}" if zip_top else rel) as fh:
            data = fh.read(MAX_METADATA_BYTES + 1)
            return data if len(data) <= MAX_METADATA_BYTES else None
    except (OSError, KeyError, zipfile.BadZipFile):
        return None


def _sun_angles(xml_bytes: Optional[bytes]) -> Optional[SunAngles]:
    """Mean sun zenith and azimuth of a tile; None when missing, NaN (some tiles) or unreadable."""
    if not xml_bytes:
        return None
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.split("}")[-1] == "Mean_Sun_Angle":
            try:
                zenith, azimuth = float(_text(el, "ZENITH_ANGLE") or "nan"), float(_text(el, "AZIMUTH_ANGLE") or "nan")
            except ValueError:
                return None
            if math.isfinite(zenith) and math.isfinite(azimuth) and 0.0 <= zenith < 90.0:
                return SunAngles(zenith, azimuth % 360.0)
            return None
    return None


def _find_mtd(names: List[str], where: str) -> str:
    found = [n for n in names if _MTD_RE.search(n) and n.count("/") <= 1]
    if not found:
        if any(n.lower().endswith("manifest.safe") for n in names):
            raise SafeProductError(
                f"{where} is a .SAFE product but not a Sentinel-2 L1C or L2A one (it has no "
                "MTD_MSIL1C.xml or MTD_MSIL2A.xml); CloudFree masks Sentinel-2 MSI products only.")
        raise SafeProductError(
            f"{where} is not a Sentinel-2 .SAFE product: no MTD_MSIL1C.xml or MTD_MSIL2A.xml "
            "found. Give the .SAFE folder, its .zip, or the MTD_MSIL*.xml file inside it.")
    return found[0]


def _text(root: ET.Element, tag: str) -> Optional[str]:
    for el in root.iter():
        if el.tag.split("}")[-1] == tag and el.text:
            return el.text.strip()
    return None


def _band_ids(root: ET.Element) -> Dict[str, str]:
    """bandId ('0'...'12') -> band name, from Spectral_Information."""
    ids: Dict[str, str] = {}
    for el in root.iter():
        if el.tag.split("}")[-1] == "Spectral_Information":
            phys = el.get("physicalBand", "")
            num = phys[1:]
            name = "B8A" if phys == "B8A" else f"B{int(num):02d}" if num.isdigit() else phys
            ids[el.get("bandId", "")] = name
    if not ids:  # Products without Spectral_Information still use ESA's fixed order.
        ids = {str(i): b for i, b in enumerate(ALL_BANDS)}
    return ids


def _number(text: str, tag: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SafeProductError(f"{name} gives {tag} '{text}', which is not a number; the metadata is damaged: "
                               "download the product again.") from None
    if not math.isfinite(value):
        raise SafeProductError(f"{name} gives {tag} {text}; it must be a finite number. Download the product again.")
    return value


def _offsets(root: ET.Element, level: str, name: str) -> Dict[str, float]:
    tag = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
    ids = _band_ids(root)
    out: Dict[str, float] = {}
    for el in root.iter():
        if el.tag.split("}")[-1] == tag and el.text:
            out[ids.get(el.get("band_id", ""), el.get("band_id", ""))] = _number(el.text, tag, name)
    return out


def open_safe(path: str | Path) -> SafeProduct:
    """Read a product from its .SAFE folder, its .zip, or its MTD_MSIL*.xml file."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".xml":
        path = path.parent
    if not path.exists():
        raise SafeProductError(f"{path} does not exist; give a .SAFE folder, a .zip or an MTD_MSIL*.xml file.")
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.iterdir()]
        mtd_name = _find_mtd(names, str(path))
        if (path / mtd_name).stat().st_size > MAX_METADATA_BYTES:
            raise SafeProductError(f"The metadata {mtd_name} of {path.name} is larger than "
                                   f"{MAX_METADATA_BYTES >> 20} MB; it is not Sentinel-2 product metadata.")
        xml_bytes = (path / mtd_name).read_bytes()
        prefix, zip_top = str(path), None
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            roots = {PurePosixPath(n).parts[0] for n in names if "/" in n}
            top = sorted(roots)[0] if len(roots) == 1 else ""
            rel_names = [n[len(top) + 1:] if top and n.startswith(top + "/") else n for n in names]
            mtd_name = _find_mtd(rel_names, str(path))
            member = f"{top}/{mtd_name}" if top else mtd_name
            if zf.getinfo(member).file_size > MAX_METADATA_BYTES:
                raise SafeProductError(f"The metadata {mtd_name} in {path.name} inflates to more than "
                                       f"{MAX_METADATA_BYTES >> 20} MB; it is not Sentinel-2 product metadata.")
            with zf.open(member) as fh:  # the size in the zip directory can lie: read no more than the limit
                xml_bytes = fh.read(MAX_METADATA_BYTES + 1)
            if len(xml_bytes) > MAX_METADATA_BYTES:
                raise SafeProductError(f"The metadata {mtd_name} in {path.name} inflates to more than "
                                       f"{MAX_METADATA_BYTES >> 20} MB; it is not Sentinel-2 product metadata.")
        prefix = f"/vsizip/{path}/{top}" if top else f"/vsizip/{path}"
        zip_top = top
    else:
        raise SafeProductError(
            f"{path} is neither a .SAFE folder nor a zip archive; give the product as downloaded.")
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError as exc:
        raise SafeProductError(f"The metadata {mtd_name} of {path.name} is not valid XML: {exc}") from exc

    ptype = _text(root, "PRODUCT_TYPE") or ""
    level = "L1C" if "1C" in ptype else "L2A" if "2A" in ptype else ""
    if not level:
        raise SafeProductError(f"{path.name} has product type '{ptype}'; only S2MSI1C and S2MSI2A are supported.")
    baseline = _text(root, "PROCESSING_BASELINE") or "00.00"
    if not _BASELINE_RE.match(baseline):
        raise SafeProductError(
            f"{path.name} gives processing baseline '{baseline}', which is not a baseline number such as 04.00; "
            "the radiometric offset depends on it, so the product cannot be read safely. Download it again.")
    quant_tag = "QUANTIFICATION_VALUE" if level == "L1C" else "BOA_QUANTIFICATION_VALUE"
    quant = _number(_text(root, quant_tag) or "10000", quant_tag, path.name)
    if not quant > 0:
        raise SafeProductError(f"{path.name} gives {quant_tag} {quant:g}; it must be positive (10000 in every "
                               "Sentinel-2 product). The metadata is damaged: download the product again.")
    offsets = _offsets(root, level, path.name)
    if float(baseline) >= 4.0 and not offsets:
        raise SafeProductError(
            f"{path.name} has processing baseline {baseline}, whose DN carry a radiometric offset, "
            "but its metadata lists none; the product metadata looks truncated: download it again.")

    files: Dict[str, Dict[int, str]] = {}
    first_image = ""
    for el in root.iter():
        if el.tag.split("}")[-1] != "IMAGE_FILE" or not el.text:
            continue
        rel = el.text.strip()
        parts = PurePosixPath(rel).parts
        if rel.startswith(("/", "\\")) or ".." in parts or ":" in rel or "\\" in rel:
            raise SafeProductError(f"The metadata of {path.name} names the band file '{rel}', which lies outside "
                                   "the product; CloudFree reads only files inside the product folder.")
        m = _BAND_RE.search(rel)
        if not m:
            continue
        first_image = first_image or rel
        band, res = m.group(1), m.group(2)
        res_m = int(res) if res else NATIVE_RESOLUTION_M[band]
        files.setdefault(band, {})[res_m] = f"{prefix}/{rel}.jp2"
    if not files:
        raise SafeProductError(f"The metadata of {path.name} lists no band files (IMAGE_FILE).")
    if offsets:
        missing = [b for b in files if b != "SCL" and b not in offsets]
        if missing:
            raise SafeProductError(
                f"{path.name} gives a radiometric offset for some bands but not for {', '.join(missing)}; "
                "an offset applies to every band or none. The metadata is damaged: download the product again.")
    tile = ""
    m = re.search(r"_T(\d{2}[A-Z]{3})_", path.name)
    if m:
        tile = m.group(1)
    return SafeProduct(
        path=path, level=level, baseline=baseline,
        spacecraft=_text(root, "SPACECRAFT_NAME") or "", sensing_time=_text(root, "PRODUCT_START_TIME") or "",
        tile=tile, quantification=quant, offsets=offsets, files=files,
        sun=_sun_angles(_granule_metadata(path, zip_top, first_image)))

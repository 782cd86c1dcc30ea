"""Checking band files against the checksums in a product's manifest.safe.

A JPEG 2000 file with damaged bytes inside a code block can decode without
any error, into wrong values that a model turns into a confident wrong mask.
Every Sentinel-2 product lists the checksum of each of its files in
manifest.safe (MD5 in older products, SHA3-256 in newer ones), so the files
a run reads are hashed and compared first.  A product without a manifest, or
a file the manifest does not list, cannot be checked and is read as it is.
"""
from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath
from typing import Dict, Iterable, Optional, Tuple

from ..errors import SafeProductError, UnreadableFileError

MAX_MANIFEST_BYTES = 32 * 1024 * 1024
_ALGORITHMS = {"MD5": "md5", "SHA3-256": "sha3_256", "SHA-256": "sha256", "SHA256": "sha256"}


def _manifest_bytes(product: Path) -> Optional[Tuple[bytes, Optional[zipfile.ZipFile], str]]:
    """The manifest's bytes, the open zip (for zipped products) and the member prefix; None without one."""
    if product.is_dir():
        path = product / "manifest.safe"
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise SafeProductError(f"The manifest.safe of {product.name} is larger than 32 MB; it is not a "
                                   "Sentinel-2 manifest.")
        return path.read_bytes(), None, ""
    zf = zipfile.ZipFile(product)
    names = [n for n in zf.namelist() if PurePosixPath(n).name == "manifest.safe" and n.count("/") <= 1]
    if not names:
        zf.close()
        return None
    if zf.getinfo(names[0]).file_size > MAX_MANIFEST_BYTES:
        zf.close()
        raise SafeProductError(f"The manifest.safe in {product.name} inflates to more than 32 MB.")
    with zf.open(names[0]) as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    prefix = names[0][: -len("manifest.safe")]
    return data, zf, prefix


def manifest_checksums(xml: bytes) -> Dict[str, Tuple[str, str]]:
    """Relative path ('GRANULE/.../B02.jp2') -> (hashlib algorithm, hex digest) for every listed file."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return {}
    out: Dict[str, Tuple[str, str]] = {}
    for stream in root.iter():
        if stream.tag.split("}")[-1] != "byteStream":
            continue
        href, checksum, algorithm = None, None, None
        for child in stream:
            tag = child.tag.split("}")[-1]
            if tag == "fileLocation":
                href = child.get("href", "")
            elif tag == "checksum" and child.text:
                checksum, algorithm = child.text.strip().lower(), _ALGORITHMS.get(child.get("checksumName", "").upper())
        if href and checksum and algorithm:
            out[PurePosixPath(href).as_posix().lstrip("./")] = (algorithm, checksum)
    return out


def _digest(stream, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    for block in iter(lambda: stream.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def verify_band_files(product: Path, files: Iterable[str]) -> int:
    """Hash the band files a run reads (GDAL paths inside `product`); SafeProductError on a mismatch.

    Returns how many files were checked.
    """
    found = _manifest_bytes(product)
    if found is None:
        return 0
    xml, zf, prefix = found
    try:
        sums = manifest_checksums(xml)
        checked = 0
        for gdal_path in files:
            rel = _relative(gdal_path, product, prefix)
            if rel is None or rel not in sums:
                continue
            algorithm, expected = sums[rel]
            name = PurePosixPath(rel).name
            try:
                if zf is not None:
                    with zf.open(prefix + rel) as fh:
                        actual = _digest(fh, algorithm)
                else:
                    if (product / rel).stat().st_size == 0:
                        raise UnreadableFileError(f"Cannot open {name} in {product.name}: the file is empty. "
                                                  "Download or copy the product again.")
                    with open(product / rel, "rb") as fh:
                        actual = _digest(fh, algorithm)
            except (OSError, KeyError, zipfile.BadZipFile) as exc:
                if isinstance(exc, UnreadableFileError):
                    raise
                raise UnreadableFileError(f"Cannot open {name} in {product.name}: the file is missing or unreadable "
                                          f"({exc}). Download or copy the product again.") from exc
            if actual != expected:
                raise UnreadableFileError(
                    f"Cannot read {PurePosixPath(rel).name} in {product.name}: the file is damaged or incomplete "
                    "(its checksum differs from the one in manifest.safe). Download or copy the product again.")
            checked += 1
        return checked
    finally:
        if zf is not None:
            zf.close()


def _relative(gdal_path: str, product: Path, prefix: str) -> Optional[str]:
    text = str(gdal_path)
    if text.startswith("/vsizip/"):
        inner = text[len("/vsizip/") + len(str(product)):].lstrip("/")
        return inner[len(prefix):] if prefix and inner.startswith(prefix) else inner
    try:
        return Path(text).relative_to(product).as_posix()
    except ValueError:
        return None


def restamp_manifest(product: Path) -> int:
    """Rewrite manifest.safe's checksums to those of the files now in a product folder.

    For products assembled from real metadata and other imagery (test
    fixtures, the synthetic full-size benchmark scene), whose real manifest
    lists the checksums of files they do not contain.  Returns how many
    entries were rewritten.
    """
    path = product / "manifest.safe"
    text = path.read_text(encoding="utf-8")
    sums = manifest_checksums(text.encode("utf-8"))
    changed = 0
    for rel, (algorithm, old) in sums.items():
        target = product / rel
        if target.is_file():
            with open(target, "rb") as fh:
                new = _digest(fh, algorithm)
            if new != old:
                text = text.replace(old, new).replace(old.upper(), new)
                changed += 1
    path.write_text(text, encoding="utf-8")
    return changed

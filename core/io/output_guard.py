"""Refusing, before anything is written, an output that would clobber an input or another output.

Paths are compared as files, not as strings: symbolic links, `..`, doubled
slashes and hard links that reach the same file are the same file, and an
output inside an input folder (a .SAFE product) touches that input.  Each
output also brings a sidecar style (`<name>.qml`) that must not land on an
input or on another output's sidecar.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from ..errors import InputError

PathLike = str | Path


def _identity(path: Path) -> Tuple[str, Optional[Tuple[int, int]]]:
    """The resolved path and, where the file exists, its (device, inode)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        return real, (st.st_dev, st.st_ino)
    except OSError:
        return real, None


def _input_roots(inputs: Iterable[Optional[PathLike]]) -> List[Path]:
    """What each input occupies: the file, or for a product (folder or its MTD xml) the product folder."""
    roots = []
    for item in inputs:
        if item is None or not str(item) or str(item).startswith("/vsi"):
            continue
        path = Path(item)
        if path.suffix.lower() == ".xml" and path.name.upper().startswith("MTD_MSI"):
            roots.append(path.parent)
        roots.append(path)
    return roots


def _inside(child: str, folder: str) -> bool:
    return os.path.commonpath([child, folder]) == folder


def guard_outputs(outputs: Sequence[Optional[PathLike]], inputs: Sequence[Optional[PathLike]],
                  sidecars: bool = True) -> None:
    """Raise InputError if an output is a folder, is or lies inside an input, or two outputs meet."""
    claimed: List[Tuple[str, Optional[Tuple[int, int]], Path]] = []
    roots = [(p, *_identity(p)) for p in _input_roots(inputs)]
    for out in outputs:
        if out is None or not str(out):
            continue
        out = Path(out)
        if out.is_dir():
            raise InputError(f"The output {out} is a folder; give a file name such as {out / 'mask.tif'}.")
        names = [out] + ([out.with_suffix(".qml")] if sidecars else [])
        for name in names:
            real, ident = _identity(name)
            for given, in_real, in_ident in roots:
                same = real == in_real or (ident is not None and ident == in_ident)
                if same or (os.path.isdir(in_real) and _inside(real, in_real)):
                    what = "its style file " + name.name if name is not out else str(out)
                    raise InputError(f"The output {what} would overwrite the input {given}; choose another "
                                     "output name (CloudFree never writes over its inputs).")
            for other_real, other_ident, other in claimed:
                if real == other_real or (ident is not None and ident == other_ident):
                    raise InputError(f"Two outputs of this run resolve to the same file {real} ({other} and "
                                     f"{name}); give each output its own name.")
            claimed.append((real, ident, name))

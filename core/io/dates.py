"""Acquisition dates of the inputs of a time series, and which one is the target.

Gap-filling weighs other dates by their distance in time, so every input
needs a date.  A .SAFE product carries its sensing time in its metadata; a
plain raster carries none that can be trusted (a TIFF's DATETIME is when the
file was written), so its date is given, or read from its file name when
that name says it the Sentinel-2 way (T33UUU_20170216T102101_B02.jp2,
S2A_MSIL2A_20200615T184921_..., an exported S2B_20200615T184919_stack.tif)
or as an ISO date (s2_2015-07-11.tif), and names one date only.
"""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..errors import InputError, option
from .safe import open_safe

_ISO = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.]*Z?)?\s*$")
_NAME_SENSING = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})T\d{6}(?!\d)")   # Sentinel-2 sensing time in a name
_NAME_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")


def parse_date(text: str, what: str = "date") -> date:
    """An ISO date (YYYY-MM-DD, a time after it is ignored), or an error that shows the form."""
    m = _ISO.match(str(text))
    if not m:
        raise InputError(f"Cannot read '{text}' as the {what}; write dates as YYYY-MM-DD, e.g. 2015-08-30.")
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        raise InputError(f"'{text}' is not a calendar date ({exc}).") from exc


def split_dates(text: Optional[str]) -> Optional[List[str]]:
    """'2015-07-11, 2015-08-30' -> ['2015-07-11', '2015-08-30']; empty text -> None."""
    parts = [p.strip() for p in re.split(r"[,;\s]+", text or "") if p.strip()]
    return parts or None


def sensing_date(path: str | Path) -> date:
    """The sensing date of a .SAFE product, from PRODUCT_START_TIME in its metadata."""
    product = open_safe(path)
    if not product.sensing_time:
        raise InputError(f"The metadata of {product.path.name} has no PRODUCT_START_TIME; give its date.")
    return parse_date(product.sensing_time, f"sensing time of {product.path.name}")


def date_from_name(path: str | Path) -> Optional[date]:
    """The acquisition date a file name states, or None when it states none or more than one.

    A product name's first sensing time is the acquisition (the second is
    when it was processed), so only the first Sentinel-2 time counts.
    """
    name = Path(str(path)).name
    found = _NAME_SENSING.search(name)
    candidates = [found.groups()] if found else list({m.groups() for m in _NAME_ISO.finditer(name)})
    if len(candidates) != 1:
        return None
    try:
        return date(*(int(x) for x in candidates[0]))
    except ValueError:
        return None


def input_dates(inputs: Sequence[str | Path], dates: Optional[Sequence[Optional[str]]]) -> List[date]:
    """One date per input: the given one, else the product's; distinct, or an error naming the clash.

    `dates` may leave an entry empty (None or "") for a .SAFE product.
    """
    if dates is not None and len(dates) != len(inputs):
        raise InputError(f"Give one date per input: {len(inputs)} inputs but {len(dates)} dates.")
    out: List[date] = []
    for i, path in enumerate(inputs):
        given = dates[i] if dates is not None else None
        if given:
            out.append(parse_date(given, f"date of {Path(path).name}"))
        elif _is_product(path):
            out.append(sensing_date(path))
        elif (named := date_from_name(path)) is not None:
            out.append(named)
        else:
            raise InputError(
                f"{Path(path).name} is a plain raster whose name states no date; give the dates "
                f"of all inputs in order ({option('dates', '2015-07-11,2015-08-30,...')}).")
    seen: Dict[date, str | Path] = {}
    for path, d in zip(inputs, out):
        if d in seen:
            raise InputError(f"{Path(seen[d]).name} and {Path(path).name} have the same date {d}; "
                             "give one input per date (mosaic same-day scenes first).")
        seen[d] = path
    return out


def resolve_target(target: Union[int, str, date], dates: Sequence[date]) -> int:
    """The 0-based index of the target: an index, or a date that must be one of the inputs' dates."""
    if isinstance(target, bool):
        raise InputError("The target must be an input's index or its date.")
    if isinstance(target, int):
        if not 0 <= target < len(dates):
            raise InputError(f"The target index {target} is outside the {len(dates)} inputs (0 to {len(dates) - 1}).")
        return target
    wanted = target if isinstance(target, date) else parse_date(str(target), "target date")
    if wanted not in dates:
        listed = ", ".join(d.isoformat() for d in dates)
        raise InputError(f"No input has the target date {wanted}; the inputs' dates are {listed}.")
    return list(dates).index(wanted)


def _is_product(path) -> bool:
    from .inputs import is_safe_input  # deferred: inputs opens rasters (rasterio), dates need not
    return is_safe_input(path)

"""Several small real .SAFE products for batch tests: copies of one built product under distinct scene names."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

DATES = ("20210908T042701", "20210918T042701", "20210928T042701")


def copies_of(product: Path, folder: Path, dates=DATES) -> List[Path]:
    """The product copied once per date into `folder`, the date in the name changed (the metadata is the same)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for d in dates:
        target = folder / product.name.replace("20210908T042701", d)
        if not target.exists():
            shutil.copytree(product, target)
        out.append(target)
    return out

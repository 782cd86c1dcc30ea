"""Where every benchmark writes its figures: one JSON file, its folder made, so runs can be compared later."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional


def write_json(path: Optional[Path], results: Any, indent: int = 2) -> None:
    """Write `results` to `path` as JSON (nothing when no path was asked for)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=indent) + "\n", encoding="utf-8")

"""Helpers of the reliability suite: file snapshots, temporaries, the CLI as a user runs it, product surgery.

Every reliability case checks four things: the exit status or exception type,
a distinctive part of the message, that no input and no pre-existing output
changed (sha256 of every file before and after), and that no temporary file
was left behind.  The helpers here make each of those one call.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

import pytest
from cloudfree.core.model.card import sha256_of

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample" / "sen12mscr_cloudy_l1c.tif"
MODELS = REPO / "models"
DATA = REPO.parent / "shared" / "data"
LAYTON_SCL = DATA / "s2_l2a_shadow_layton" / "2020-06-15" / "SCL.tif"

PathLike = Union[str, Path]

# Hidden temporaries of core.io.outputs (.<stem>.cloudfree-<pid>-<hex>.tif/.qml/.bak) and the *.tmp files of
# summaries, tables and training sets.
_TEMPORARY = re.compile(r"(^\..*\.cloudfree-)|(\.tmp($|\.))")


# --- snapshots ---------------------------------------------------------------------------------------

def snapshot(*roots: PathLike) -> Dict[str, str]:
    """sha256 of every file under each root (a folder, walked recursively, or a single file).

    Symbolic links are recorded with their target as well as the content they
    lead to, so a link re-pointed or replaced by a file counts as a change.
    """
    result: Dict[str, str] = {}

    def record(path: Path) -> None:
        key = str(path)
        if path.is_symlink():
            target = os.readlink(path)
            content = sha256_of(path) if path.is_file() else "<dir or dangling>"
            result[key] = f"symlink->{target}|{content}"
        elif path.is_file():
            result[key] = sha256_of(path)

    for root in roots:
        root = Path(root)
        if root.is_dir() and not root.is_symlink():
            for folder, dirs, files in os.walk(root):
                for name in sorted(files + [d for d in dirs if (Path(folder) / d).is_symlink()]):
                    record(Path(folder) / name)
        elif root.exists() or root.is_symlink():
            record(root)
    return result


def assert_unchanged(before: Dict[str, str], after: Dict[str, str]) -> None:
    """Nothing added, removed or changed between two snapshots."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), f"files added {added}, removed {removed}, changed {changed}"


def assert_kept(before: Dict[str, str], after: Dict[str, str]) -> None:
    """Every file of `before` is still there, byte-identical (new files are allowed)."""
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (removed or changed), f"files removed {removed}, changed {changed}"


def temporaries(*folders: PathLike, ignore: Iterable[PathLike] = ()) -> List[Path]:
    """Hidden CloudFree temporaries and *.tmp files under the folders (recursively)."""
    skip = {str(Path(p)) for p in ignore}
    found = []
    for folder in folders:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(dirpath) / name
                if _TEMPORARY.search(name) and str(path) not in skip:
                    found.append(path)
    return found


def assert_no_temporaries(*folders: PathLike, ignore: Iterable[PathLike] = ()) -> None:
    left = temporaries(*folders, ignore=ignore)
    assert not left, f"temporary files left behind: {left}"


# --- the command line --------------------------------------------------------------------------------

def cli_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["GDAL_PAM_ENABLED"] = "NO"  # no .aux.xml beside inputs (the tests' conftest sets it for this process)
    env.pop("CLOUDFREE_DEBUG", None)  # the CLI would re-raise, printing a traceback
    return env


def cli(*args: PathLike, cwd: PathLike, timeout: float = 180) -> subprocess.CompletedProcess:
    """`python -m cloudfree ARGS` run in `cwd`, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "cloudfree", *map(str, args)], cwd=str(cwd), env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if "cloudfree: error:" in ln]
    return lines[-1].split("cloudfree: error:", 1)[1].strip() if lines else ""


def assert_cli_error(proc: subprocess.CompletedProcess, *parts: str, status: int = 2) -> None:
    """Exit status, no traceback, one 'cloudfree: error:' line holding every part."""
    tail = proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, f"a traceback reached the user:\n{tail}"
    assert proc.returncode == status, f"exit status {proc.returncode}, expected {status}:\n{tail}"
    message = error_line(proc)
    assert message, f"no 'cloudfree: error:' line:\n{tail}"
    for part in parts:
        assert part in message, f"{part!r} not in the message {message!r}"


def assert_api_error(exc: BaseException, kind: type, *parts: str) -> None:
    from cloudfree.core.errors import CloudFreeError
    assert isinstance(exc, CloudFreeError), f"{type(exc).__name__} is not a CloudFreeError: {exc}"
    assert isinstance(exc, kind), f"{type(exc).__name__} is not a {kind.__name__}: {exc}"
    for part in parts:
        assert part in str(exc), f"{part!r} not in the message {str(exc)!r}"


def raised(call, *args, **kwargs) -> BaseException:
    """The exception `call` raises (failing the test if it returns)."""
    try:
        result = call(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the caller checks its type
        return exc
    pytest.fail(f"{getattr(call, '__name__', call)} returned {result!r} instead of refusing")


# --- inputs ------------------------------------------------------------------------------------------

def clone_product(src: Path, dst_dir: Path, name: Optional[str] = None, link: bool = True) -> Path:
    """A copy of a .SAFE product: band files hard-linked (cheap) or copied, metadata always copied.

    Metadata is copied so that editing it never reaches the original; band
    files must be copied (link=False) before they are damaged.
    """
    dst = Path(dst_dir) / (name or src.name)

    def copy(s, d):
        if link and not s.lower().endswith((".xml", ".safe")):
            os.link(s, d)
        else:
            shutil.copy2(s, d)

    shutil.copytree(src, dst, copy_function=copy)
    return dst


def mtd_path(product: Path) -> Path:
    found = [p for p in product.iterdir() if re.match(r"MTD_MSIL(1C|2A)\.xml$", p.name, re.IGNORECASE)]
    assert found, f"no MTD in {product}"
    return found[0]


def edit_mtd(product: Path, edit) -> Path:
    """Rewrite the product's MTD xml through `edit(text) -> text` (a fresh file: never through a hard link)."""
    mtd = mtd_path(product)
    text = mtd.read_text(encoding="utf-8")
    new = edit(text)
    assert new != text, "the edit changed nothing"
    mtd.unlink()
    mtd.write_text(new, encoding="utf-8")
    return mtd


def band_file(product: Path, band: str) -> Path:
    found = sorted(product.rglob(f"*_{band}.jp2")) + sorted(product.rglob(f"*_{band}_*m.jp2"))
    assert found, f"no {band} file in {product}"
    return found[0]


def truncate_to(path: Path, share: float) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(int(size * share))


def write_raster_like(template: Path, path: Path, fill: float, dtype: str, count: Optional[int] = None) -> Path:
    """A raster on the grid of `template`, every pixel `fill` (for values that cannot be reflectance)."""
    import numpy as np
    import rasterio
    with rasterio.open(template) as src:
        profile = src.profile
    profile.update(dtype=dtype, nodata=None, count=count or profile["count"], compress="deflate")
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.full((profile["count"], profile["height"], profile["width"]), fill, dtype))
    return path


def copy_model(name: str, folder: Path) -> Path:
    """A bundled model's .onnx, card and .pt copied into `folder`; returns the .onnx path."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".onnx", ".json", ".pt"):
        src = MODELS / f"{name}{suffix}"
        if src.is_file():
            shutil.copy2(src, folder / src.name)
    return folder / f"{name}.onnx"


def dead_pid() -> int:
    """A pid no process has (999999 unless, unusually, it is alive)."""
    for pid in (999999, 999998, 999997, 4194301):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            continue
    pytest.skip("no free pid found to stand for a dead process")


__all__ = [name for name in dir() if not name.startswith("_")]

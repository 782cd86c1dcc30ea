"""Build dist/cloudfree-<version>.zip, the file a user installs with QGIS's "Install from ZIP".

The zip holds one top folder, cloudfree/ (QGIS names the installed plugin after it,
and the code imports itself as the package `cloudfree`), with the plugin code, the
styles and icon, and the bundled models with their cards; it leaves out the tests,
benchmarks, sample data, training scripts (they need ../shared data) and build
outputs. Entries are sorted and carry a fixed timestamp, so the same tree gives the
same zip.

Standard library only, on purpose: it runs before (and without) the plugin's own
dependencies, reads BUNDLED_MODELS from core/model/card.py without importing it,
and works with any Python 3 that `make` finds.

    python scripts/package.py [--output-dir DIR]
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import zipfile
from pathlib import Path
from typing import Iterable, List

REPO = Path(__file__).resolve().parents[1]
TOP = "cloudfree"  # the plugin's module name: QGIS requires it as the zip's top folder
#: Always-required reconstruction model (the cloud-mask models come from BUNDLED_MODELS).
INPAINT_MODEL = "cloudfree_inpaint_s2"
ROOT_FILES = ["metadata.txt", "__init__.py", "__main__.py", "plugin.py", "README.md"]
LICENSE_PATTERNS = ["LICENSE*", "LICENCE*", "COPYING*", "NOTICE*"]
CODE_DIRS = ["algorithms", "cli", "core", "dependencies"]
MODEL_PATTERNS = ["*.onnx", "*.json", "*.pt", "README.md"]
#: Names never packaged, wherever they are (belt and braces on top of the include lists).
EXCLUDED_PARTS = {"__pycache__", ".git", ".venv", "test", "bench", "scripts", "sample", "out", "build", "dist", ".ci"}
#: 1980-01-01, the earliest time a zip can hold; SOURCE_DATE_EPOCH overrides it.
DEFAULT_DATE = (1980, 1, 1, 0, 0, 0)


class PackageError(RuntimeError):
    pass


def plugin_version(repo: Path) -> str:
    text = (repo / "metadata.txt").read_text(encoding="utf-8")
    match = re.search(r"^version\s*=\s*(\S+)\s*$", text, re.MULTILINE)
    if not match:
        raise PackageError(f"{repo / 'metadata.txt'} has no 'version=' line.")
    return match.group(1)


def bundled_models(repo: Path) -> List[str]:
    """BUNDLED_MODELS from core/model/card.py, read with ast (importing it would need the plugin's dependencies)."""
    path = repo / "core" / "model" / "card.py"
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "BUNDLED_MODELS" for t in targets) and node.value is not None:
            names = ast.literal_eval(node.value)
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise PackageError(f"BUNDLED_MODELS in {path} is not a list of names.")
            return names
    raise PackageError(f"{path} defines no BUNDLED_MODELS list.")


def _wanted(rel: Path) -> bool:
    return (not any(part in EXCLUDED_PARTS or part.startswith(".git") for part in rel.parts)
            and rel.suffix != ".pyc" and rel.name != "requirements-teachers.txt")


def package_files(repo: Path) -> List[Path]:
    """Paths relative to repo, sorted, of every file the zip holds."""
    files: List[Path] = []

    def add(paths: Iterable[Path]) -> None:
        files.extend(p.relative_to(repo) for p in paths if p.is_file())

    add(repo / name for name in ROOT_FILES)
    for pattern in LICENSE_PATTERNS:
        add(repo.glob(pattern))
    for folder in CODE_DIRS:
        add((repo / folder).rglob("*.py"))
    add((repo / "resources").rglob("*"))
    for pattern in MODEL_PATTERNS:  # not models/*.py: training scripts that need ../shared data
        add((repo / "models").glob(pattern))
    return sorted({p for p in files if _wanted(p)}, key=lambda p: p.as_posix())


def check_required(repo: Path, files: List[Path]) -> None:
    have = {p.as_posix() for p in files}
    missing = [name for name in ("metadata.txt", "__init__.py", "plugin.py") if name not in have]
    for model in bundled_models(repo) + [INPAINT_MODEL]:
        missing += [f"models/{model}{ext}" for ext in (".onnx", ".json") if f"models/{model}{ext}" not in have]
    if missing:
        raise PackageError(
            "Cannot package the plugin, these files are missing: " + ", ".join(missing)
            + ". Bundled models come from `make models` (or git checkout models/); see models/README.md.")


def zip_date() -> tuple:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return DEFAULT_DATE
    import time
    return max(time.gmtime(int(epoch))[:6], DEFAULT_DATE)


def build(repo: Path, output_dir: Path) -> Path:
    files = package_files(repo)
    check_required(repo, files)
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{TOP}-{plugin_version(repo)}.zip"
    partial = output_dir / f".{target.name}.{os.getpid()}.partial"
    date = zip_date()
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for rel in files:
                info = zipfile.ZipInfo(f"{TOP}/{rel.as_posix()}", date_time=date)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100644 << 16)  # regular file, rw-r--r--
                info.create_system = 3  # Unix, so the permissions above are honoured
                zf.writestr(info, (repo / rel).read_bytes(), compresslevel=9)
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "dist",
                        help="folder for the zip (default: dist/ in the repository)")
    args = parser.parse_args(argv)
    try:
        target = build(REPO, args.output_dir)
    except PackageError as exc:
        print(f"package: error: {exc}", file=sys.stderr)
        return 1
    with zipfile.ZipFile(target) as zf:
        count = len(zf.namelist())
    print(f"{target}  {target.stat().st_size / 1e6:.1f} MB, {count} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

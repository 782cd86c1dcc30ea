"""Imports flow one way: entry points -> api -> concerns -> io (README, Architecture).

Read from the source with `ast` (every import, also those deferred inside
functions), so a new import against the flow fails here before it becomes a
cycle or drags QGIS into the engine.
"""
import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
#: The layers of core/, lowest first: a module may import its own package and any lower layer.
LAYERS = [("core.errors",), ("core.progress",), ("core.io",), ("core.model",), ("core.masking",),
          ("core.reconstruction",), ("core.evaluation",), ("core.training",), ("core.batch",), ("core.api",)]
ENTRY_POINTS = ("cli", "algorithms", "plugin", "__main__")


def unit_of(module: str) -> str:
    """'core.io.safe' -> 'core.io'; 'core.api' -> 'core.api'; 'cli.main' -> 'cli'."""
    parts = module.split(".")
    if parts[0] == "core" and len(parts) > 1:
        return ".".join(parts[:2])
    return parts[0]


def rank(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{unit} is in no layer of LAYERS")


def imports_of(path: Path) -> Iterator[Tuple[str, int]]:
    """(module imported, relative to the plugin package where it is part of it, else its absolute name; line)."""
    rel = path.relative_to(REPO).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target + "." + a.name for a in node.names] if not node.module else [target]
                for name in names:
                    yield name, node.lineno
            elif node.module:
                yield node.module.replace("cloudfree.", "", 1) if node.module.startswith("cloudfree.") \
                    else "<ext>" + node.module, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield (a.name.replace("cloudfree.", "", 1) if a.name.startswith("cloudfree.") else "<ext>" + a.name,
                       node.lineno)


def core_modules():
    return sorted(p for p in (REPO / "core").rglob("*.py"))


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_core_imports_only_its_own_or_lower_layers(path):
    own = unit_of(".".join(path.relative_to(REPO).with_suffix("").parts).replace(".__init__", ""))
    for name, line in imports_of(path):
        if name.startswith("<ext>"):
            assert name[5:].split(".")[0] not in ("qgis", "PyQt5"), f"{path}:{line} imports QGIS"
            continue
        if name.split(".")[0] != "core":
            pytest.fail(f"{path}:{line} imports {name}: core never imports entry points, scripts or the installer")
        unit = unit_of(name)
        if unit == "core":  # 'from .. import x' of core itself
            continue
        assert unit == own or rank(unit) < rank(own), \
            f"{path.relative_to(REPO)}:{line} imports {name} ({unit}), a layer above or beside {own}"


def test_every_core_package_is_in_a_layer():
    units = {unit_of(".".join(p.relative_to(REPO).with_suffix("").parts)) for p in core_modules()}
    units.discard("core.__init__")
    for unit in units:
        rank(unit)


def test_the_installer_needs_only_the_standard_library():
    for path in (REPO / "dependencies").glob("*.py"):
        for name, line in imports_of(path):
            if name.startswith("<ext>"):
                assert name[5:].split(".")[0] not in ("numpy", "rasterio", "onnxruntime", "torch", "qgis"), \
                    f"{path}:{line} imports {name[5:]}"
            else:
                assert unit_of(name) in ("dependencies", "core.errors", "core.progress"), f"{path}:{line} imports {name}"


def entry_point_modules():
    paths = [p for unit in ENTRY_POINTS for p in sorted(REPO.glob(f"{unit}/*.py")) + sorted(REPO.glob(f"{unit}.py"))]
    return paths


@pytest.mark.parametrize("path", entry_point_modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_entry_points_reach_the_engine_only_through_the_api(path):
    """cli/ and algorithms/ name core.api (and the shared errors and progress), never a concern package."""
    for name, line in imports_of(path):
        if name.split(".")[0] == "core":
            assert unit_of(name) in ("core.api", "core.errors", "core.progress"), \
                f"{path.relative_to(REPO)}:{line} imports {name}; import it from core.api (add it there if new)"


def test_every_api_name_resolves_and_type_checkers_see_the_same_names():
    import importlib
    api = importlib.import_module("cloudfree.core.api")
    source = (REPO / "core" / "api.py").read_text()
    checked = {a.asname or a.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
               and node.level for a in node.names}
    assert checked == set(api.__all__)
    for name in api.__all__:
        assert getattr(api, name) is getattr(importlib.import_module(f"cloudfree.core.{api._WHERE[name]}"), name)
    with pytest.raises(AttributeError, match="no 'nothing_here'"):
        assert api.nothing_here is None  # raises before the comparison

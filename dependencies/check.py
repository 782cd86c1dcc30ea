"""What CloudFree needs from Python, whether this Python has it, and a safe installer.

QGIS users do not manage Python environments: QGIS brings its own Python,
numpy and GDAL bindings, and a plugin that pip-installs into that Python can
replace QGIS's numpy with one its GDAL bindings were not built for, after
which QGIS itself no longer starts.  So CloudFree

* checks each package it needs and says what is missing and the exact command
  that fixes it (:func:`check_dependencies`, :func:`describe`);
* installs only into a folder of its own inside the QGIS profile
  (:func:`deps_dir`), which the plugin puts on ``sys.path`` at load
  (:func:`activate`), never into QGIS's site-packages;
* installs with ``pip --no-deps`` and adds the missing dependencies itself,
  so pip never gets the chance to bring numpy or GDAL along, deletes any copy
  that still lands in the folder, and verifies the result in a fresh Python
  before it is moved into place (dependencies.install.install).

This module imports nothing beyond the standard library at import time: the
plugin runs it at load, before onnxruntime or rasterio may be importable.
The installer, dependencies.install, runs as the command the check prints::

    python -m cloudfree.dependencies.install                 # check
    python -m cloudfree.dependencies.install install --target DIR "onnxruntime>=1.17"
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from ..core.errors import InputError, RuntimeUnavailableError

# Levels of a dependency: what stops working without it.
REQUIRED = "required"   # the plugin's algorithms need it
CLI = "cli"             # the command line only
OPTIONAL = "optional"   # training and the PyTorch engine
QGIS = "qgis"           # QGIS's own; reported, never required by CloudFree itself

# States of a dependency in this Python.
OK = "ok"
MISSING = "missing"
WRONG_VERSION = "wrong version"
WRONG_BUILD = "wrong build"

#: The name of the folder, inside the QGIS profile's python folder, that CloudFree installs into.
DEPS_FOLDER = "cloudfree_deps"

#: The id of the Processing algorithm that checks and installs; messages point users to it.
ALGORITHM_ID = "cloudfree:dependencies"
ALGORITHM_PATH = "Processing Toolbox > CloudFree > Setup > Check and install dependencies"

_MARKER = "CLOUDFREE-JSON"


class DependencyInstallError(RuntimeUnavailableError):
    """An install did not give a working package; the install folder is left as it was."""


@dataclass(frozen=True)
class Dependency:
    """One Python package CloudFree uses, and what it is for."""

    name: str                       #: distribution name, as pip knows it
    import_name: str                #: the module that code imports
    specifier: str                  #: version range, e.g. ">=1.17" or ">=1.21,<2" ("" for any)
    level: str                      #: REQUIRED, CLI, OPTIONAL or QGIS
    purpose: str                    #: what it is needed for, in the user's words
    alternatives: Tuple[str, ...] = ()  #: other distributions that provide the same module
    managed_by_qgis: bool = False   #: QGIS's own: checked and reported, never installed by CloudFree
    import_check: bool = True       #: import it to check; False for packages too heavy to load in QGIS

    @property
    def requirement(self) -> str:
        return f"{self.name}{self.specifier}"


#: Everything CloudFree uses, in the order the report lists them.
DEPENDENCIES: Tuple[Dependency, ...] = (
    Dependency("onnxruntime", "onnxruntime", ">=1.17", REQUIRED,
               "runs the U-Net cloud mask models (ONNX Runtime engine)", alternatives=("onnxruntime-gpu",)),
    Dependency("rasterio", "rasterio", ">=1.3", REQUIRED, "reads and writes every raster"),
    Dependency("numpy", "numpy", ">=1.21,<2", REQUIRED,
               "arrays; QGIS's own copy, which its GDAL bindings were built for", managed_by_qgis=True),
    Dependency("affine", "affine", "<3", REQUIRED,
               "georeferencing (used with rasterio); affine 3 breaks with the attrs of Debian's QGIS"),
    Dependency("GDAL", "osgeo.gdal", "", QGIS,
               "its Python bindings (osgeo), which an install must leave unchanged", managed_by_qgis=True),
    Dependency("tqdm", "tqdm", "", CLI, "progress bars"),
    # torch is never imported by the check: importing it inside the QGIS desktop
    # process has crashed QGIS (Mesa GL); metadata and find_spec are enough here.
    Dependency("torch", "torch", "", OPTIONAL, "training and the PyTorch engine", import_check=False),
    Dependency("segmentation-models-pytorch", "segmentation_models_pytorch", "", OPTIONAL,
               "training and the PyTorch engine", import_check=False),
)

#: Distributions CloudFree never installs or lets pip install: they belong to QGIS.
PROTECTED = frozenset({"numpy", "gdal", "osgeo", "pygdal"})

#: Extra limits applied whenever the installer adds one of these as a dependency.
EXTRA_LIMITS: Dict[str, str] = {"affine": "<3"}

#: Top-level names in an install folder that would shadow QGIS's numpy or GDAL.
_PROTECTED_ENTRY = re.compile(
    r"^(numpy|numpy\.libs|osgeo|osgeo_utils|gdal|gdalconst|gdalnumeric|gdal_array|ogr|osr)(\.py|\.pth)?$",
    re.IGNORECASE)


@dataclass(frozen=True)
class DependencyStatus:
    """One dependency as found in this Python."""

    dependency: Dependency
    state: str                       #: OK, MISSING, WRONG_VERSION or WRONG_BUILD
    version: Optional[str] = None    #: the version found, if any
    distribution: Optional[str] = None  #: which distribution provides it (e.g. onnxruntime-gpu)
    location: Optional[str] = None   #: where the module was found
    detail: str = ""                 #: import error, providers, conflicts: what the user should know
    fix: str = ""                    #: the command or step that fixes it ("" when OK)

    @property
    def ok(self) -> bool:
        return self.state == OK

    @property
    def name(self) -> str:
        return self.dependency.name

    @property
    def required(self) -> bool:
        return self.dependency.level == REQUIRED


@dataclass
class InstallResult:
    """What :func:`install` did."""

    target: Path
    installed: List[str] = field(default_factory=list)          #: "name version" put into the target
    removed_protected: List[str] = field(default_factory=list)  #: numpy/GDAL entries deleted from the target
    numpy_version: Optional[str] = None                         #: before and after (verified equal)
    gdal_version: Optional[str] = None
    messages: List[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"Installed into {self.target}: {', '.join(self.installed) or 'nothing'}."]
        lines += self.messages
        lines.append(f"Verified in a fresh Python: numpy {self.numpy_version or 'absent'} and "
                     f"GDAL {self.gdal_version or 'absent'} are unchanged.")
        return "\n".join(lines)


# Versions -------------------------------------------------------------------

_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview|dev|post)[-_.]?(\d*))?",
                      re.IGNORECASE)
_STAGES = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "c": 3, "rc": 3, "pre": 3, "preview": 3, "post": 5}


def _version_key(version: str) -> Tuple[Tuple[int, ...], int]:
    """(release padded to 4 numbers, stage): enough of PEP 440 to order the versions we meet.

    Done here rather than with `packaging` because the check runs at plugin
    load in QGIS's Python, which need not have `packaging`.  Local labels
    (`+cu130`) are ignored; pre-releases sort before their release.
    """
    m = _VERSION.match(version)
    if not m:
        return (0, 0, 0, 0), 4
    release = tuple(int(p) for p in m.group(1).split("."))
    release = (release + (0, 0, 0, 0))[:4]
    stage = _STAGES.get((m.group(2) or "").lower(), 4)
    return release, stage


def version_satisfies(version: str, specifier: str) -> bool:
    """Whether a version meets a comma-separated specifier of >=, >, <=, <, == and != clauses.

    `<V` excludes V's own pre-releases (2.0.0rc1 does not satisfy <2), as pip does.
    """
    key = _version_key(version)
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        m = re.match(r"^(>=|<=|==|!=|>|<|~=)\s*(.+)$", clause)
        if not m:
            raise InputError(f"Cannot read the version clause '{clause}'; use forms like >=1.17 or <2.")
        op, bound = m.group(1), _version_key(m.group(2))
        same_release = key[0] == bound[0]
        ok = {">=": key >= bound, ">": key > bound and not same_release, "<=": key <= bound,
              "<": key < bound and not (same_release and key[1] < 4), "==": key == bound,
              "!=": key != bound, "~=": key >= bound}[op]
        if not ok:
            return False
    return True


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split_requirement(requirement: str) -> Tuple[str, Set[str], str]:
    """(name, extras, the rest) of a requirement string such as 'rasterio[s3]>=1.3'."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$", requirement)
    if not m:
        raise InputError(f"'{requirement}' is not a package requirement; write e.g. onnxruntime or 'rasterio>=1.3'.")
    extras = {e.strip() for e in (m.group(2) or "").split(",") if e.strip()}
    return m.group(1), extras, m.group(3).strip()


# Where things are -----------------------------------------------------------

def deps_dir(profile_python_dir: os.PathLike) -> Path:
    """The folder CloudFree installs into: `<QGIS profile>/python/cloudfree_deps`.

    Inside the profile because the user can always write there, and because
    QGIS's own site-packages may be read-only or shared with the system.
    QGIS does not put it on sys.path by itself: :func:`activate` does.
    """
    return Path(profile_python_dir) / DEPS_FOLDER


def default_profile_python_dir() -> Path:
    """The python folder of the default QGIS 3 profile, for use outside QGIS (command line, tests)."""
    if sys.platform.startswith("win"):
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "QGIS" / "QGIS3" / "profiles" / "default" / "python"


_active: Dict[str, object] = {"path": None, "warning": None}


def activate(folder: os.PathLike) -> Optional[str]:
    """Put the install folder on sys.path, ahead of site-packages, before anything imports from it.

    Ahead, so that a newer onnxruntime installed there wins over an old one
    elsewhere.  If the folder holds numpy or GDAL (someone ran pip there by
    hand), putting it ahead would shadow QGIS's own copies, so it goes to the
    end of sys.path instead and the returned warning names what to delete.
    The folder is created if missing so that Python's import caches see
    packages installed into it later in the same session.
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    text = str(path)
    stray = sorted(e.name for e in path.iterdir() if _is_protected_entry(e.name)) if path.is_dir() else []
    if text in sys.path:
        sys.path.remove(text)
    warning = None
    if stray:
        sys.path.append(text)
        warning = (f"The CloudFree dependency folder {path} holds {', '.join(stray)}, which would replace "
                   "QGIS's own numpy/GDAL; it was put last on the Python path. Delete those entries.")
    else:
        sys.path.insert(0, text)
    sys.path_importer_cache.pop(text, None)
    importlib.invalidate_caches()
    _active.update(path=path, warning=warning)
    return warning


def active_deps_dir() -> Optional[Path]:
    """The folder :func:`activate` put on sys.path in this process, if any."""
    path = _active["path"]
    return path if isinstance(path, Path) else None


def activation_warning() -> Optional[str]:
    warning = _active["warning"]
    return warning if isinstance(warning, str) else None


def is_this_python(candidate: Path) -> bool:
    """Whether `candidate` is the interpreter running this process: same version and same installation."""
    probe = "import sys; print(sys.version); print(sys.prefix)"
    try:
        out = subprocess.run([str(candidate), "-c", probe], capture_output=True, text=True, timeout=30,
                             env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    except (OSError, subprocess.SubprocessError):
        return False
    lines = out.stdout.strip().splitlines()
    return out.returncode == 0 and len(lines) >= 2 and lines[0] == sys.version.splitlines()[0] \
        and os.path.realpath(lines[-1]) == os.path.realpath(sys.prefix)


def find_python() -> str:
    """The Python interpreter of this process, as a program that can run `-m pip`.

    Inside QGIS, sys.executable is the QGIS program itself (qgis, qgis-bin.exe,
    QGIS.app/Contents/MacOS/QGIS), and running it with `-m pip` would start a
    second QGIS; the interpreter lies beside it or under sys.exec_prefix.
    """
    exe = Path(sys.executable) if sys.executable else None
    if exe is not None and exe.name.lower().startswith("python"):
        return str(exe)
    major, minor = sys.version_info[:2]
    suffix = ".exe" if sys.platform.startswith("win") else ""
    names = [f"python{major}.{minor}{suffix}", f"python{major}{suffix}", f"python{suffix}"]
    folders = [Path(sys.exec_prefix) / "bin", Path(sys.exec_prefix), Path(sys.base_exec_prefix) / "bin",
               Path(sys.base_exec_prefix)]
    if exe is not None:
        folders += [exe.parent / "bin", exe.parent]
    # PATH last, and every entry of it: another python3 first on PATH (a conda or pyenv shell) is not QGIS's
    folders += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    for folder in folders:
        for name in names:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK) and is_this_python(candidate):
                return str(candidate)
    raise RuntimeUnavailableError(
        f"Cannot find the Python {major}.{minor} interpreter that runs QGIS (sys.executable is "
        f"{sys.executable}); give it explicitly (python=... or --python).")


def _quote(text: str) -> str:
    """Quote for both POSIX shells and Windows cmd when needed (spaces, <, >, &, |)."""
    return f'"{text}"' if re.search(r"[\s<>&|;()=^*!]", text) or not text else text


def install_command(requirements: Sequence[str], target: Optional[os.PathLike] = None,
                    python: Optional[str] = None) -> str:
    """The shell command that installs requirements the safe way (this module's `install`)."""
    package_dir = Path(__file__).absolute().parent.parent
    root, package = package_dir.parent, package_dir.name
    if python is None:
        try:
            python = find_python()
        except RuntimeUnavailableError:
            python = "python3"
    target = Path(target) if target is not None else deps_dir(default_profile_python_dir())
    return (f"cd {_quote(str(root))} && {_quote(python)} -m {package}.dependencies.install install "
            f"--target {_quote(str(target))} " + " ".join(f'"{r}"' for r in requirements))


# Checking -------------------------------------------------------------------

def _distribution_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception:  # a broken dist-info must not stop the check
        return None


def _qgis_fix(dep: Dependency) -> str:
    return (f"{dep.name} belongs to QGIS and CloudFree never installs or upgrades it"
            f"{' (CloudFree needs ' + dep.requirement + ')' if dep.specifier else ''}: reinstall QGIS's own "
            f"(Debian/Ubuntu: sudo apt install --reinstall python3-{dep.name.lower()}; Windows: the OSGeo4W "
            "installer; macOS: the QGIS installer), and remove any copy installed by pip into QGIS's Python.")


def _check_one(dep: Dependency, imports: bool, gpu: Optional[bool], target: Optional[Path],
               python: Optional[str]) -> DependencyStatus:
    dists = [d for d in (dep.name,) + dep.alternatives if _distribution_version(d) is not None]
    distribution = dists[0] if dists else None
    version = _distribution_version(distribution) if distribution else None
    notes: List[str] = []
    location = None
    module = None
    wanted = f"{dep.name}-gpu" if gpu and dep.alternatives else dep.name
    fix = _qgis_fix(dep) if dep.managed_by_qgis else install_command([wanted + dep.specifier], target, python)

    if imports and dep.import_check:
        try:
            module = importlib.import_module(dep.import_name)
        except Exception as exc:  # ImportError, or whatever a broken package raises while importing
            why = f"import {dep.import_name} fails: {type(exc).__name__}: {exc}"
            if version:
                why = f"{distribution} {version} is installed but {why}"
            return DependencyStatus(dep, MISSING, None, distribution, None, why, fix)
        version = getattr(module, "__version__", None) or version
        location = getattr(module, "__file__", None)
    else:
        try:
            spec = importlib.util.find_spec(dep.import_name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return DependencyStatus(dep, MISSING, None, distribution, None,
                                    f"no module {dep.import_name} on the Python path", fix)
        location = spec.origin

    if len(dists) > 1:
        notes.append(f"both {' and '.join(dists)} are installed and share the module {dep.import_name}"
                     + (f", loaded from {location}" if location else "")
                     + "; uninstall the one you do not want if they are in the same folder")
    state = OK
    if dep.specifier and version and not version_satisfies(version, dep.specifier):
        state = WRONG_VERSION
        notes.insert(0, f"CloudFree needs {dep.requirement}")
    if module is not None and dep.import_name == "onnxruntime":
        try:
            providers = list(module.get_available_providers())
        except Exception:  # noqa: BLE001 - a broken build still gets reported
            providers = []
        notes.append(f"providers: {', '.join(providers) or 'none'}")
        if "CUDAExecutionProvider" in providers and distribution == "onnxruntime":
            distribution = "onnxruntime-gpu" if "onnxruntime-gpu" in dists else distribution
        if gpu and "CUDAExecutionProvider" not in providers and state == OK:
            state = WRONG_BUILD
            notes.insert(0, "this build has no CUDA provider; the GPU needs onnxruntime-gpu")
    elif gpu and dep.alternatives and module is None and distribution == dep.name and state == OK:
        state = WRONG_BUILD  # judged by name without importing: the CPU build is "onnxruntime"
        notes.insert(0, f"{dep.name} is the CPU-only build; the GPU needs {dep.alternatives[0]}")
    if module is not None and dep.import_name == "rasterio":
        gdal = getattr(module, "__gdal_version__", None)
        if gdal:
            notes.append(f"built with GDAL {gdal}")
    if location and target is not None and dep.managed_by_qgis and str(location).startswith(str(target)):
        state = WRONG_VERSION
        notes.insert(0, f"it is loaded from the CloudFree folder {target}, not from QGIS: delete it there")
    return DependencyStatus(dep, state, version, distribution, location, "; ".join(notes),
                            "" if state == OK else fix)


def check_dependencies(imports: bool = True, gpu: Optional[bool] = None, target: Optional[os.PathLike] = None,
                       python: Optional[str] = None,
                       dependencies: Iterable[Dependency] = DEPENDENCIES) -> List[DependencyStatus]:
    """One status per dependency, in this Python, with the command that fixes each problem.

    imports: import each light package to check it really loads (a package
    can be installed yet broken); False uses metadata and find_spec only,
    which is what the plugin does at QGIS start so that loading never runs
    third-party code.  Heavy packages (torch) are never imported here.
    gpu: True requires an onnxruntime build with the CUDA provider.
    target: the install folder the fix commands name (default: the folder
    made active in this process, else the default profile's).
    """
    target_path = Path(target) if target is not None else (active_deps_dir()
                                                             or deps_dir(default_profile_python_dir()))
    return [_check_one(dep, imports, gpu, target_path, python) for dep in dependencies]


def missing(statuses: Iterable[DependencyStatus], levels: Sequence[str] = (REQUIRED,)) -> List[DependencyStatus]:
    """The statuses at the given levels that are not OK."""
    return [s for s in statuses if not s.ok and s.dependency.level in levels]


def describe(statuses: Sequence[DependencyStatus]) -> str:
    """A readable, multi-line report: one block per package, then what to do."""
    try:
        python = find_python()
    except RuntimeUnavailableError:
        python = sys.executable
    lines = [f"CloudFree dependencies in Python {sys.version.split()[0]} ({python}):"]
    labels = {REQUIRED: "required", CLI: "command line only", OPTIONAL: "optional", QGIS: "QGIS's own"}
    for s in statuses:
        dep = s.dependency
        found = f"{s.version}" if s.version else "not found"
        if s.distribution and s.distribution != dep.name:
            found += f" ({s.distribution})"
        wanted = f", needs {dep.specifier}" if dep.specifier else ""
        lines.append(f"  [{s.state}] {dep.name}: {found}{wanted} - {labels[dep.level]}: {dep.purpose}")
        if s.detail:
            lines.append(f"      {s.detail}")
        if s.fix:
            lines.append(f"      fix: {s.fix}")
    rasterio = next((s for s in statuses if s.name == "rasterio" and s.ok), None)
    gdal = next((s for s in statuses if s.name == "GDAL" and s.ok), None)
    if rasterio and gdal and gdal.version and "GDAL" in rasterio.detail and gdal.version not in rasterio.detail:
        lines.append(f"  Note: rasterio carries its own GDAL while QGIS runs GDAL {gdal.version}; two GDALs in one "
                     "process usually work, but if rasterio cannot open files QGIS opens, install a rasterio "
                     "built against QGIS's GDAL (pip install --no-binary rasterio rasterio, with GDAL's headers).")
    bad = missing(statuses)
    if bad:
        lines.append(f"Missing or unusable: {', '.join(s.name for s in bad)}. Run {ALGORITHM_PATH} "
                     f"({ALGORITHM_ID}) with 'Install' ticked, or the fix commands above, then restart QGIS.")
    else:
        lines.append("Everything CloudFree's algorithms need is present.")
    return "\n".join(lines)


def explain_import_error(exc: BaseException) -> str:
    """What an ImportError during a run means for the user: what is missing and how to fix it."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    statuses = check_dependencies()
    bad = [s for s in statuses if not s.ok and (s.required or s.dependency.import_name.split(".")[0] == name)]
    if not bad:
        return (f"A Python package failed to import: {type(exc).__name__}: {exc}. Run {ALGORITHM_PATH} "
                f"({ALGORITHM_ID}) to check what CloudFree needs.")
    parts = [f"{s.name} ({s.state}{': ' + s.detail if s.detail else ''})" for s in bad]
    fixes = "; ".join(f"{s.fix}" for s in bad if s.fix)
    return (f"CloudFree cannot run because a package it needs is missing or unusable: {', '.join(parts)}. "
            f"Run {ALGORITHM_PATH} ({ALGORITHM_ID}) with 'Install' ticked, then restart QGIS"
            + (f"; or in a terminal: {fixes}" if fixes else "") + ".")


def _is_protected_entry(name: str) -> bool:
    if name.endswith((".dist-info", ".egg-info")):
        return _canonical(name.split("-")[0]) in PROTECTED
    return bool(_PROTECTED_ENTRY.match(name))

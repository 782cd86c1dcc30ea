"""Installing what CloudFree needs into its own folder of the QGIS profile, without touching QGIS's numpy or GDAL.

Kept apart from dependencies.check (the check, which the plugin runs at every
load) because installing is rare and long: pip in a subprocess, a staging
folder, a verification in a fresh Python.  Runs as a command too, which is
the command the check prints::

    python -m cloudfree.dependencies.install                 # check
    python -m cloudfree.dependencies.install install --target DIR "onnxruntime>=1.17"
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from .check import (DEPENDENCIES, DEPS_FOLDER, EXTRA_LIMITS, OPTIONAL, PROTECTED, REQUIRED,
                           DependencyInstallError, DependencyStatus, InstallResult, _MARKER, _canonical,
                           _is_protected_entry, _split_requirement, check_dependencies, default_profile_python_dir,
                           deps_dir, describe, find_python, missing)
from ..core.errors import Cancelled, InputError, RuntimeUnavailableError
from ..core.progress import Feedback


def requirements_to_install(statuses: Iterable[DependencyStatus], gpu: bool = False,
                            training: bool = False) -> List[str]:
    """The requirement strings that would fix the statuses (never numpy or GDAL)."""
    levels = (REQUIRED, OPTIONAL) if training else (REQUIRED,)
    wanted = []
    for s in statuses:
        dep = s.dependency
        if s.ok or dep.managed_by_qgis or dep.level not in levels:
            continue
        name = f"{dep.name}-gpu" if gpu and dep.alternatives else dep.name
        wanted.append(name + dep.specifier)
    return wanted


# Installing -----------------------------------------------------------------

_PROBE = r"""
import importlib, json, sys
out = {"errors": {}}
def versions(tag):
    try:
        import numpy
        out[tag + "numpy"] = [numpy.__version__, numpy.__file__]
    except Exception as e:
        out[tag + "numpy"] = [None, "%s: %s" % (type(e).__name__, e)]
    try:
        from osgeo import gdal
        out[tag + "gdal"] = [gdal.__version__, gdal.__file__]
    except Exception as e:
        out[tag + "gdal"] = [None, "%s: %s" % (type(e).__name__, e)]
versions("first_")
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except BaseException as e:
        out["errors"][name] = "%s: %s" % (type(e).__name__, e)
versions("")
print("@MARKER@" + json.dumps(out))
""".replace("@MARKER@", _MARKER)

_RESOLVE = r"""
import json, sys
import importlib.metadata as md
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
out = []
for name, extras in json.loads(sys.argv[1]).items():
    for line in md.distribution(name).requires or []:
        req = Requirement(line)
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in [""] + extras):
            continue
        try:
            found = md.version(req.name)
        except md.PackageNotFoundError:
            found = None
        ok = found is not None and req.specifier.contains(found, prereleases=True)
        out.append({"from": name, "name": req.name, "extras": sorted(req.extras),
                    "specifier": str(req.specifier), "found": found, "ok": ok})
print("@MARKER@" + json.dumps(out))
""".replace("@MARKER@", _MARKER)


def _env(paths: Sequence[Path], offline: bool = False) -> Dict[str, str]:
    env = dict(os.environ)
    if offline:
        # Only the wheel folder: no index, no find-links from pip.conf or PIP_* variables.
        env = {k: v for k, v in env.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    old = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(p) for p in paths] + old)
    return env


def _run_json(python: str, script: str, argument: object, env: Dict[str, str], what: str):
    try:
        proc = subprocess.run([python, "-c", script, json.dumps(argument)], env=env, capture_output=True,
                              text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DependencyInstallError(f"{what} failed: cannot run {python} ({exc}).") from exc
    for line in proc.stdout.splitlines():
        if line.startswith(_MARKER):
            return json.loads(line[len(_MARKER):])
    raise DependencyInstallError(f"{what} failed in {python} (exit code {proc.returncode}): "
                                 f"{(proc.stderr or proc.stdout).strip()[-2000:]}")


def _stream(cmd: List[str], env: Dict[str, str], feedback: Feedback) -> Tuple[int, str]:
    """Run a command, pass its lines to feedback, stop it when the user cancels."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    output: List[str] = []
    while True:
        if feedback.is_cancelled():
            proc.kill()
            proc.wait()
            raise Cancelled("Cancelled by the user; nothing was installed.")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            break
        output.append(line)
        if line.strip():
            feedback.info(line)
    return proc.wait(), "\n".join(output)


def _dist_infos(folder: Path) -> Dict[str, Path]:
    """Canonical distribution name -> its .dist-info folder, for the folder's top level."""
    found = {}
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_dir() and entry.name.endswith((".dist-info", ".egg-info")):
                found[_canonical(entry.name.split("-")[0])] = entry
    return found


def _dist_label(info: Path) -> str:
    stem = info.name.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return f"{name} {version}".strip()


def _top_level_modules(info: Path, folder: Path) -> List[str]:
    """Importable top-level names a distribution put into the folder (from top_level.txt or RECORD)."""
    top = info / "top_level.txt"
    if top.is_file():
        names = [n.strip() for n in top.read_text(encoding="utf-8").splitlines() if n.strip()]
        return [n for n in names if (folder / n).exists() or any(folder.glob(n + ".*"))]
    names: List[str] = []
    for path in _record_paths(info):
        first = path.split("/")[0]
        if first.endswith((".dist-info", ".egg-info", ".data", ".libs")) or first in ("bin", "__pycache__", ".."):
            continue
        if "/" in path:
            module = first if (folder / first / "__init__.py").is_file() or first.isidentifier() else ""
        else:
            module = first.split(".")[0] if first.endswith((".py", ".so", ".pyd")) else ""
        if module and module.isidentifier() and module not in names:
            names.append(module)
    return names


def _record_paths(info: Path) -> List[str]:
    record = info / "RECORD"
    if not record.is_file():
        return []
    paths = []
    for line in record.read_text(encoding="utf-8", errors="replace").splitlines():
        path = line.split(",")[0].strip().strip('"')
        if path:
            paths.append(path.replace("\\", "/"))
    return paths


def _remove_distribution(folder: Path, info: Path) -> None:
    """Delete a distribution's files (by its RECORD) and then its metadata folder."""
    root = folder.resolve()
    parents: Set[Path] = set()
    for rel in _record_paths(info):
        if rel.startswith("../../"):
            rel = rel[6:]  # pip --target records scripts relative to its lib/python, moved to <target>/bin
        path = (folder / rel).resolve()
        if root not in path.parents or info.resolve() in path.parents:
            continue  # never outside the folder
        if path.is_file() or path.is_symlink():
            path.unlink()
            parents.update(p for p in path.parents if root in p.parents)
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        cache = parent / "__pycache__"
        if cache.is_dir() and not any(f.suffix != ".pyc" for f in cache.iterdir()):
            shutil.rmtree(cache, ignore_errors=True)
        try:
            parent.rmdir()  # only when empty: shared folders (bin, namespace packages) stay
        except OSError:
            pass
    shutil.rmtree(info, ignore_errors=True)


def remove_protected(folder: os.PathLike) -> List[str]:
    """Delete numpy, GDAL and osgeo from an install folder; return what was deleted.

    A copy there would come before QGIS's own on sys.path, and QGIS's GDAL
    bindings are built for QGIS's numpy only.
    """
    folder = Path(folder)
    removed: List[str] = []
    for name, info in _dist_infos(folder).items():
        if name in PROTECTED:
            removed.append(info.name)
            _remove_distribution(folder, info)
    if folder.is_dir():
        for entry in sorted(folder.iterdir()):
            if _is_protected_entry(entry.name):
                removed.append(entry.name)
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    return removed


def _move_into(source: Path, destination: Path) -> None:
    """Move a file or folder into place; folders that exist on both sides are merged."""
    if source.is_dir() and not source.is_symlink() and destination.is_dir() and not destination.is_symlink():
        for child in source.iterdir():
            _move_into(child, destination / child.name)
        source.rmdir()
        return
    if destination.is_dir() and not destination.is_symlink():
        shutil.rmtree(destination)
    elif destination.exists() or destination.is_symlink():
        destination.unlink()
    shutil.move(str(source), str(destination))


def _same_module(name: str) -> Set[str]:
    """Canonical names of the distributions that provide the same module as `name` (onnxruntime and -gpu)."""
    for dep in DEPENDENCIES:
        group = {_canonical(d) for d in (dep.name,) + dep.alternatives}
        if name in group:
            return group
    return {name}


def _merge(staging: Path, target: Path) -> None:
    """Move a verified staging folder into the target, replacing older versions of the same distributions.

    onnxruntime and onnxruntime-gpu share one module folder, so installing one
    removes the other first; otherwise the folder would hold a mix of both.
    """
    target.mkdir(parents=True, exist_ok=True)
    old = _dist_infos(target)
    for name in _dist_infos(staging):
        for other in _same_module(name):
            if other in old:
                _remove_distribution(target, old.pop(other))
    for entry in list(staging.iterdir()):
        _move_into(entry, target / entry.name)


def _pip_failure(requirements: Sequence[str], output: str, wheel_dir: Optional[Path], python: str) -> str:
    tail = "\n".join(line for line in output.splitlines()[-15:] if line.strip())
    text = f"pip could not install {', '.join(requirements)} with {python}."
    if wheel_dir is not None:
        wheels = sorted(p.name for p in wheel_dir.iterdir() if p.suffix in (".whl", ".gz", ".zip"))
        text += (f" The wheel folder {wheel_dir} holds {', '.join(wheels) or 'no wheels'}. On a machine with "
                 f"internet access and the same system and Python {sys.version_info[0]}.{sys.version_info[1]}, "
                 f"fill a folder with: python -m pip download -d <folder> "
                 + " ".join(f'"{r}"' for r in requirements) + " (numpy and GDAL wheels there are ignored).")
    return f"{text}\npip said:\n{tail}"


def install(packages: Sequence[str], target: os.PathLike, python: Optional[str] = None,
            wheel_dir: Optional[os.PathLike] = None, index: Optional[bool] = None,
            feedback: Optional[Feedback] = None) -> InstallResult:
    """Install packages into `target` without touching QGIS's numpy or GDAL, and verify them.

    packages: requirement strings ('onnxruntime>=1.17', 'rasterio'); numpy and
    GDAL are refused.  python: the interpreter that will import them (default:
    this process's, found even inside QGIS).  wheel_dir: a folder of wheels
    for machines without internet.  index: use the package index (default:
    only when no wheel folder is given).

    pip runs with --no-deps, first for the packages, then for each of their
    dependencies this Python does not already satisfy, so numpy and GDAL are
    never downloaded; a dependency on a numpy or GDAL this Python does not
    have is an error, not an install.  Everything goes to a staging folder
    beside the target, which is checked in a fresh Python (the packages
    import; numpy's and GDAL's versions are those of before) and only then
    moved into the target.  On any failure the staging folder is deleted and
    the target is as it was.
    """
    feedback = feedback or Feedback()
    target = Path(target).absolute()
    wheels = Path(wheel_dir).absolute() if wheel_dir else None
    use_index = (wheels is None) if index is None else bool(index)
    if not packages:
        raise InputError("Nothing to install: name at least one package.")
    if wheels is not None and not wheels.is_dir():
        raise InputError(f"The wheel folder {wheels} does not exist or is not a folder.")
    if wheels is None and not use_index:
        raise InputError("Without the package index, give a folder of wheels to install from.")
    requests: Dict[str, Tuple[str, Set[str], str]] = {}
    for requirement in packages:
        name, extras, rest = _split_requirement(requirement)
        if _canonical(name) in PROTECTED:
            raise InputError(f"CloudFree never installs {name}: it belongs to QGIS, whose GDAL bindings are "
                             "built for it. Reinstall QGIS's own if it is missing or broken.")
        requests[_canonical(name)] = (name, extras, rest)
    python = python or find_python()

    pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True, env=_env([]))
    if pip.returncode != 0:
        raise DependencyInstallError(
            f"pip is not available in {python} ({(pip.stderr or pip.stdout).strip()[-300:]}). Install it first "
            "(Debian/Ubuntu: sudo apt install python3-pip; elsewhere: python -m ensurepip --user).")
    feedback.info(pip.stdout.strip())

    existing = [target] if target.is_dir() else []
    before = _run_json(python, _PROBE, [], _env(existing), "Reading numpy's and GDAL's versions")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{DEPS_FOLDER}-staging-", dir=target.parent))
    result = InstallResult(target=target)
    try:
        base = [python, "-m", "pip", "install", "--no-deps", "--upgrade", "--target", str(staging),
                "--prefer-binary"]
        if wheels is not None:
            base += ["--find-links", str(wheels)]
        if not use_index:
            base.append("--no-index")
        queue_: List[str] = [requirement for requirement in packages]
        extras: Dict[str, Set[str]] = {k: set(v[1]) for k, v in requests.items()}
        done: Dict[str, Path] = {}
        conflicts: List[str] = []
        for _round in range(10):
            if not queue_:
                break
            feedback.check()
            feedback.info(f"Installing {', '.join(queue_)} (without dependencies) ...")
            code, output = _stream(base + queue_, _env([], offline=not use_index), feedback)
            if code != 0:
                raise DependencyInstallError(_pip_failure(queue_, output, wheels, python))
            new = {k: v for k, v in _dist_infos(staging).items() if k not in done}
            done.update(new)
            expand = {info.name.split("-")[0]: sorted(extras.get(name, set())) for name, info in new.items()}
            needs = _run_json(python, _RESOLVE, expand, _env([staging] + existing), "Reading dependencies")
            queue_ = []
            for need in needs:
                name = _canonical(need["name"])
                if need["ok"]:
                    continue
                why = (f"{need['from']} needs {need['name']}{need['specifier']}, and this Python has "
                       f"{need['found'] or 'none'}")
                if name in PROTECTED:
                    conflicts.append(f"{why}; CloudFree never replaces QGIS's {need['name']}. Ask for an older "
                                     f"release that works with it, e.g. '{need['from']}<...'.")
                elif name in done:
                    conflicts.append(f"{why} (the version just installed).")
                else:
                    extra = f"[{','.join(need['extras'])}]" if need["extras"] else ""
                    spec = ",".join(filter(None, [need["specifier"], EXTRA_LIMITS.get(name, "")]))
                    requirement = f"{need['name']}{extra}{spec}"
                    if requirement not in queue_:
                        queue_.append(requirement)
                    extras.setdefault(name, set()).update(need["extras"])
        if queue_:
            conflicts.append(f"dependencies still unresolved after 10 rounds: {', '.join(queue_)}")
        if conflicts:
            raise DependencyInstallError("Nothing was installed: " + " ".join(conflicts))

        result.removed_protected = remove_protected(staging)
        if result.removed_protected:
            result.messages.append(f"Deleted from the install: {', '.join(result.removed_protected)} "
                                   "(QGIS's own numpy/GDAL must not be shadowed).")
        modules = []
        for name in requests:
            info = done.get(name)
            modules += _top_level_modules(info, staging) if info else []
        feedback.info(f"Verifying in a fresh Python: import {', '.join(modules) or '(nothing)'} ...")
        after = _run_json(python, _PROBE, modules, _env([staging] + existing), "Verifying the install")
        problems = [f"import {m} fails: {e}" for m, e in after["errors"].items()]
        for key, label in (("numpy", "numpy"), ("gdal", "GDAL")):
            old, new = before[key][0], after[key][0]
            if old != new or after["first_" + key][0] != new:
                problems.append(f"{label} changes from {old or 'absent'} to {new or 'absent'}")
            location = str(after[key][1] or "")
            if new and any(location.startswith(str(p)) for p in (staging, target)):
                problems.append(f"{label} would be loaded from the CloudFree folder ({location})")
        if problems:
            raise DependencyInstallError(
                "The install was removed because it does not work in this Python: " + "; ".join(problems) + ".")
        result.installed = [_dist_label(info) for info in done.values()]
        result.numpy_version, result.gdal_version = before["numpy"][0], before["gdal"][0]
        _merge(staging, target)
        stray = remove_protected(target)
        if stray:
            result.removed_protected += stray
            result.messages.append(f"Deleted from {target}: {', '.join(stray)} (left there by an earlier install).")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    importlib.invalidate_caches()
    sys.path_importer_cache.pop(str(target), None)
    return result


# Command line ---------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloudfree.dependencies.install",
                                     description="Check, or safely install, what CloudFree needs.")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="report each package (the default)")
    check.add_argument("--gpu", action="store_true", help="require onnxruntime with the CUDA provider")
    inst = sub.add_parser("install", help="install packages into the CloudFree folder, never touching numpy/GDAL")
    inst.add_argument("packages", nargs="+", help="requirements, e.g. 'onnxruntime>=1.17' rasterio")
    inst.add_argument("--target", help="install folder (default: the default QGIS profile's cloudfree_deps)")
    inst.add_argument("--wheels", help="a folder of wheels: install from it without the package index")
    inst.add_argument("--python", help="the Python that will import the packages (default: this one)")
    args = parser.parse_args(argv)
    import logging
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "install":
            target = Path(args.target) if args.target else deps_dir(default_profile_python_dir())
            result = install(args.packages, target, python=args.python, wheel_dir=args.wheels)
            print(result.summary())
            return 0
        statuses = check_dependencies(gpu=getattr(args, "gpu", False) or None)
        print(describe(statuses))
        return 0 if not missing(statuses) else 1
    except (InputError, RuntimeUnavailableError, Cancelled) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

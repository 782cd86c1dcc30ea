"""Tiny real wheels built offline, and a fresh Python to import what was installed, for the installer tests."""
import json
import os
import subprocess
import sys
from pathlib import Path

PYTHON = sys.executable


def build_wheel(projects: Path, out: Path, name: str, version: str, dependencies=(), packages=None,
                files=None) -> Path:
    """Build a wheel of a minimal setuptools project with pip, without network or build isolation."""
    src = projects / f"{name}-{version}"
    packages = packages or [name]
    files = files or {f"{name}/__init__.py": f"VALUE = {version.split('.')[1]!r}\n"}
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    deps_line = ", ".join(f'"{d}"' for d in dependencies)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps_line}]\n'
        f'[tool.setuptools]\npackages = {json.dumps(packages)}\n')
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([PYTHON, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(out), str(src)], check=True, capture_output=True, env=dict(os.environ, PIP_NO_INPUT="1"))
    return out


def fresh_python(code: str, pythonpath: Path = None, **env) -> dict:
    """Run code in a new interpreter (like the one QGIS starts) and return the JSON it prints last."""
    environment = dict(os.environ, **env)
    if pythonpath is not None:
        environment["PYTHONPATH"] = str(pythonpath)
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=environment, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])

"""The dependency check and the safe installer, on this Python and on real wheels built here.

The wheels are tiny real projects built offline with pip and setuptools; the
installs run the real pip into temporary folders, and every check runs in a
fresh Python, as in QGIS.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudfree.dependencies import check as deps
from cloudfree.dependencies import install as inst
from cloudfree.core.errors import InputError

from wheel_helpers import PYTHON, build_wheel, fresh_python


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    """Folders of wheels: 'all' (probe 0.1 and its dependency, and two misbehaving ones) and 'v2' (probe 0.2 only)."""
    root = tmp_path_factory.mktemp("wheels")
    projects = root / "projects"
    folders = {"all": root / "all", "v2": root / "v2"}
    build_wheel(projects, folders["all"], "cloudfree_probe", "0.1.0", ["cloudfree_probe_dep>=1", "numpy>=1.21"])
    build_wheel(projects, folders["all"], "cloudfree_probe_dep", "1.0.0")
    build_wheel(projects, folders["all"], "cloudfree_stray", "1.0.0", packages=["cloudfree_stray", "osgeo"],
                files={"cloudfree_stray/__init__.py": "", "osgeo/__init__.py": "raise ImportError('not GDAL')\n"})
    build_wheel(projects, folders["all"], "cloudfree_newnumpy", "1.0.0", ["numpy>=99"])
    build_wheel(projects, folders["v2"], "cloudfree_probe", "0.2.0", ["cloudfree_probe_dep>=1"])
    # Stand-ins for the CPU and GPU builds of onnxruntime: two distributions, one module folder.
    folders["ort"] = root / "ort"
    for dist, build in (("onnxruntime", "cpu"), ("onnxruntime_gpu", "gpu")):
        build_wheel(projects, folders["ort"], dist, "99.0.0", packages=["onnxruntime"],
                    files={"onnxruntime/__init__.py": f"BUILD = {build!r}\n", f"onnxruntime/{build}_only.py": ""})
    return folders


def qgis_numpy_and_gdal():
    import numpy
    from osgeo import gdal
    return numpy.__version__, gdal.__version__


def test_check_reports_this_environment():
    import numpy
    import onnxruntime
    import rasterio

    statuses = deps.check_dependencies()
    by_name = {s.name: s for s in statuses}
    assert by_name["onnxruntime"].ok and by_name["onnxruntime"].version == onnxruntime.__version__
    assert "CPUExecutionProvider" in by_name["onnxruntime"].detail
    assert by_name["rasterio"].ok and by_name["rasterio"].version == rasterio.__version__
    assert by_name["numpy"].ok and by_name["numpy"].version == numpy.__version__
    assert by_name["numpy"].dependency.managed_by_qgis and by_name["numpy"].dependency.specifier == ">=1.21,<2"
    assert by_name["affine"].ok and by_name["affine"].dependency.specifier == "<3"
    assert {"tqdm", "torch", "segmentation-models-pytorch"} <= set(by_name)
    assert deps.missing(statuses) == [] and inst.requirements_to_install(statuses) == []
    report = deps.describe(statuses)
    assert f"[ok] onnxruntime: {onnxruntime.__version__}" in report
    assert f"[ok] rasterio: {rasterio.__version__}" in report
    assert "Everything CloudFree's algorithms need is present." in report

    # Without importing anything (as at plugin load) the same packages are found.
    light = {s.name: s for s in deps.check_dependencies(imports=False)}
    assert light["onnxruntime"].ok and light["rasterio"].ok and light["torch"].ok

    # This onnxruntime is the CPU build: asking for the GPU says so and how to get it, never numpy.
    gpu = {s.name: s for s in deps.check_dependencies(gpu=True, target="/opt/profile/python/cloudfree_deps")}
    assert gpu["onnxruntime"].state == deps.WRONG_BUILD
    assert '"onnxruntime-gpu>=1.17"' in gpu["onnxruntime"].fix
    assert "--target /opt/profile/python/cloudfree_deps" in gpu["onnxruntime"].fix
    assert inst.requirements_to_install(gpu.values(), gpu=True, training=True) == ["onnxruntime-gpu>=1.17"]


def test_unimportable_onnxruntime_is_reported_missing_with_the_fix(tmp_path):
    block = tmp_path / "block"
    (block / "onnxruntime").mkdir(parents=True)
    (block / "onnxruntime" / "__init__.py").write_text("raise ImportError('this onnxruntime is broken')\n")
    target = tmp_path / "profile" / "python" / "cloudfree_deps"
    found = fresh_python(
        "import json\nfrom cloudfree.dependencies import check as d\n"
        f"s = d.check_dependencies(target={str(target)!r})\n"
        "print(json.dumps({x.name: [x.state, x.version, x.detail, x.fix] for x in s}))", block)
    state, version, detail, fix = found["onnxruntime"]
    assert state == deps.MISSING and version is None
    assert "this onnxruntime is broken" in detail
    assert "-m cloudfree.dependencies.install install" in fix and '"onnxruntime>=1.17"' in fix
    assert f"--target {target}" in fix
    assert found["rasterio"][0] == deps.OK and found["numpy"][0] == deps.OK

    cli = subprocess.run([PYTHON, "-m", "cloudfree.dependencies.install"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(block)), timeout=300)
    assert cli.returncode == 1
    assert "[missing] onnxruntime" in cli.stdout and "Missing or unusable: onnxruntime." in cli.stdout
    assert deps.ALGORITHM_ID in cli.stdout


def test_offline_install_from_a_wheel_folder_into_the_target(tmp_path, wheels):
    numpy_version, gdal_version = qgis_numpy_and_gdal()
    target = tmp_path / "profile" / "python" / "cloudfree_deps"
    result = inst.install(["cloudfree_probe"], target, python=PYTHON, wheel_dir=wheels["all"])
    # The dependency came from the folder; numpy (also a dependency) is QGIS's and was not installed.
    assert sorted(result.installed) == ["cloudfree_probe 0.1.0", "cloudfree_probe_dep 1.0.0"]
    assert (result.numpy_version, result.gdal_version) == (numpy_version, gdal_version)
    assert result.removed_protected == []
    assert not [e.name for e in target.iterdir() if e.name.lower().startswith(("numpy", "osgeo", "gdal"))]
    assert list(target.parent.iterdir()) == [target]  # no staging folder left beside it

    seen = fresh_python(
        "import json, cloudfree_probe, cloudfree_probe_dep, numpy\nfrom osgeo import gdal\n"
        "print(json.dumps([cloudfree_probe.__file__, cloudfree_probe.VALUE, numpy.__version__, numpy.__file__, "
        "gdal.__version__]))", target)
    assert Path(seen[0]).parent.parent == target and seen[1] == "1"
    assert seen[2:] == [numpy_version, seen[3], gdal_version] and not seen[3].startswith(str(target))

    # An upgrade from a folder holding only the new version: its dependency is already in the target.
    again = inst.install(["cloudfree_probe>=0.2"], target, python=PYTHON, wheel_dir=wheels["v2"])
    assert again.installed == ["cloudfree_probe 0.2.0"]
    assert sorted(p.name for p in target.glob("*.dist-info")) == [
        "cloudfree_probe-0.2.0.dist-info", "cloudfree_probe_dep-1.0.0.dist-info"]
    assert fresh_python("import json, cloudfree_probe; print(json.dumps(cloudfree_probe.VALUE))", target) == "2"


def test_gpu_build_replaces_the_cpu_build_in_the_folder(tmp_path, wheels):
    """onnxruntime and onnxruntime-gpu share the module folder: installing one removes the other first."""
    target = tmp_path / "deps"
    inst.install(["onnxruntime"], target, python=PYTHON, wheel_dir=wheels["ort"])
    assert (target / "onnxruntime" / "cpu_only.py").is_file()
    result = inst.install(["onnxruntime-gpu"], target, python=PYTHON, wheel_dir=wheels["ort"])
    assert result.installed == ["onnxruntime_gpu 99.0.0"]
    assert [p.name for p in target.glob("*.dist-info")] == ["onnxruntime_gpu-99.0.0.dist-info"]
    assert sorted(p.name for p in (target / "onnxruntime").glob("*.py")) == ["__init__.py", "gpu_only.py"]
    assert fresh_python("import json, onnxruntime; print(json.dumps(onnxruntime.BUILD))", target) == "gpu"


def test_command_line_installs_offline(tmp_path, wheels):
    target = tmp_path / "deps"
    proc = subprocess.run([PYTHON, "-m", "cloudfree.dependencies.install", "install", "--target", str(target),
                           "--wheels", str(wheels["all"]), "cloudfree_probe_dep"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"Installed into {target}: cloudfree_probe_dep 1.0.0." in proc.stdout
    assert (target / "cloudfree_probe_dep" / "__init__.py").is_file()


@pytest.mark.parametrize("package, missing", [("cloudfree_absent", "cloudfree_absent"),
                                              ("cloudfree_probe", "cloudfree_probe_dep>=1")])
def test_a_wheel_folder_without_the_package_fails_clearly_and_leaves_nothing(tmp_path, wheels, package, missing):
    """The probe itself is in 'v2' but its dependency is not: the half-done install is removed too."""
    target = tmp_path / "python" / "cloudfree_deps"
    with pytest.raises(inst.DependencyInstallError) as info:
        inst.install([package], target, python=PYTHON, wheel_dir=wheels["v2"])
    message = str(info.value)
    assert f"pip could not install {missing}" in message
    assert f"The wheel folder {wheels['v2']} holds cloudfree_probe-0.2.0-py3-none-any.whl" in message
    assert "pip download" in message
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_gdal_or_numpy_that_lands_in_the_install_is_deleted_and_reported(tmp_path, wheels):
    numpy_version, gdal_version = qgis_numpy_and_gdal()
    target = tmp_path / "deps"
    result = inst.install(["cloudfree_stray"], target, python=PYTHON, wheel_dir=wheels["all"])
    assert result.removed_protected == ["osgeo"]
    assert any("osgeo" in m and "numpy/GDAL" in m for m in result.messages)
    assert not (target / "osgeo").exists() and (target / "cloudfree_stray").is_dir()
    assert (result.numpy_version, result.gdal_version) == (numpy_version, gdal_version)
    assert fresh_python("import json\nfrom osgeo import gdal\nprint(json.dumps(gdal.__version__))", target) \
        == gdal_version


def test_a_package_that_needs_another_numpy_is_refused(tmp_path, wheels):
    target = tmp_path / "python" / "cloudfree_deps"
    with pytest.raises(inst.DependencyInstallError, match=r"cloudfree_newnumpy needs numpy>=99.*never replaces"):
        inst.install(["cloudfree_newnumpy"], target, python=PYTHON, wheel_dir=wheels["all"])
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_numpy_and_gdal_are_never_installed(tmp_path, wheels):
    for package in ("numpy", "numpy<2", "GDAL==3.6.2"):
        with pytest.raises(InputError, match="never installs"):
            inst.install([package], tmp_path / "deps", python=PYTHON, wheel_dir=wheels["all"])
    assert not (tmp_path / "deps").exists()


def test_activate_puts_the_folder_first_unless_it_holds_numpy(tmp_path):
    folder = tmp_path / "cloudfree_deps"
    saved = list(sys.path)
    try:
        assert deps.activate(folder) is None
        assert sys.path[0] == str(folder) and folder.is_dir() and deps.active_deps_dir() == folder
        (folder / "numpy").mkdir()
        warning = deps.activate(folder)
        assert "numpy" in warning and "Delete" in warning
        assert sys.path[-1] == str(folder) and sys.path.count(str(folder)) == 1
    finally:
        sys.path[:] = saved
        deps._active.update(path=None, warning=None)


def test_deps_dir_is_inside_the_profile():
    assert deps.deps_dir("/home/u/.local/share/QGIS/QGIS3/profiles/default/python") == \
        Path("/home/u/.local/share/QGIS/QGIS3/profiles/default/python/cloudfree_deps")


@pytest.mark.parametrize("version, specifier, ok", [
    ("1.24.2", ">=1.21,<2", True), ("2.0.0", ">=1.21,<2", False), ("2.0.0rc1", "<2", False),
    ("1.26.4", "<2", True), ("1.17.0", ">=1.17", True), ("1.16.3", ">=1.17", False),
    ("2.14.1+cu130", ">=2", True), ("3.0", "<3", False), ("2.4.0", "<3", True), ("", "", True)])
def test_version_ranges(version, specifier, ok):
    assert deps.version_satisfies(version, specifier) is ok


def test_onnx_engine_says_why_cuda_is_not_used(tmp_path):
    from onnx_models import conv_model

    from cloudfree.core.model.card import load_card
    from cloudfree.core.model.runtime import OnnxPredictor, cuda_reason

    card = load_card(str(conv_model(tmp_path / "m.onnx", ["B02", "B03", "B04", "B08"])))
    auto = OnnxPredictor(card, device="auto")  # this onnxruntime is the CPU build
    assert auto.reason == "this onnxruntime build has no CUDA provider (install onnxruntime-gpu)"
    assert auto.description.endswith(f"on CPUExecutionProvider ({auto.reason})")
    assert OnnxPredictor(card, device="cpu").reason == "device cpu was asked for"

    # What onnxruntime-gpu reports on a machine without a working driver, and a GPU that runs.
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert cuda_reason("auto", both, ["CPUExecutionProvider"], "CUDA failure 35: driver version is insufficient") \
        == "CUDA provider present but it failed to start: CUDA failure 35: driver version is insufficient"
    assert cuda_reason("auto", both, both) == ""


def test_inside_qgis_the_installer_finds_qgis_python_not_a_decoy_first_on_path(tmp_path, monkeypatch):
    """sys.executable is the QGIS program; PATH starts with another python3: the installer must skip it."""
    from cloudfree.dependencies import check as dependencies

    decoy_dir = tmp_path / "decoy"
    decoy_dir.mkdir()
    for name in ("python3", f"python3.{sys.version_info[1]}"):
        decoy = decoy_dir / name
        decoy.write_text("#!/bin/sh\necho '3.99.0 (decoy)'\necho /opt/decoy\n")
        decoy.chmod(0o755)
    real = Path(sys.executable).resolve()
    qgis_bin = tmp_path / "qgis" / "bin"
    qgis_bin.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(qgis_bin / "qgis"))
    monkeypatch.setattr(sys, "exec_prefix", str(tmp_path / "qgis"))
    monkeypatch.setattr(sys, "base_exec_prefix", str(tmp_path / "qgis"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(decoy_dir), str(Path(sys.prefix) / "bin"), str(real.parent)]))
    found = dependencies.find_python()
    assert Path(found).parent != decoy_dir
    assert dependencies.is_this_python(Path(found)) and not dependencies.is_this_python(decoy_dir / "python3")

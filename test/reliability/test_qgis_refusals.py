"""The same refusals through QGIS Processing (`processing.run("cloudfree:cloudmask", ...)`): each raises
QgsProcessingException carrying exactly the engine's message (the CLI's error line for the same files), and
nothing in the folder changes.
"""
import json
import math
import shutil

import pytest

from reliability_kit import (assert_cli_error, assert_no_temporaries, assert_unchanged, cli, copy_model, edit_mtd,
                             error_line, snapshot, truncate_to)

pytestmark = pytest.mark.usefixtures("cloudfree_provider")
RES_60M = 2  # index of "60 m" in the RESOLUTION enum


def _run(parameters: dict):
    import processing
    from qgis.core import QgsProcessingException
    with pytest.raises(QgsProcessingException) as err:
        processing.run("cloudfree:cloudmask", dict(parameters, RESOLUTION=RES_60M))
    return str(err.value)


def _cli_args(parameters: dict) -> list:
    args = ["cloudmask", parameters.get("INPUT") or parameters["SAFE"], "-o", parameters["OUTPUT"],
            "--resolution", "60"]
    if parameters.get("CONFIDENCE"):
        args += ["--confidence", parameters["CONFIDENCE"]]
    if parameters.get("MODEL"):
        args += ["--model", parameters["MODEL"]]
    return args


def _output_is_input(work):
    return {"INPUT": str(work / "x.tif"), "OUTPUT": str(work / "x.tif")}, "would overwrite the input"


def _confidence_is_output(work):
    return ({"INPUT": str(work / "x.tif"), "OUTPUT": str(work / "m.tif"), "CONFIDENCE": str(work / "m.tif")},
            "Two outputs of this run resolve to the same file")


def _output_inside_product(work):
    product = next(work.glob("*.SAFE"))
    return {"SAFE": str(product), "OUTPUT": str(product / "GRANULE" / "m.tif")}, "would overwrite the input"


def _quantification_zero(work):
    product = next(work.glob("*.SAFE"))
    edit_mtd(product, lambda t: t.replace(">10000</QUANTIFICATION_VALUE>", ">0</QUANTIFICATION_VALUE>"))
    return {"SAFE": str(product), "OUTPUT": str(work / "m.tif")}, "QUANTIFICATION_VALUE 0"


def _card_std_nan(work):
    onnx = copy_model("cloudfree_bgrn", work / "models")
    card = onnx.with_suffix(".json")
    raw = json.loads(card.read_text())
    raw["normalisation"]["std"][0] = math.nan
    card.write_text(json.dumps(raw))
    return {"INPUT": str(work / "x.tif"), "OUTPUT": str(work / "m.tif"), "MODEL": str(onnx)}, "NaN or infinity"


def _truncated_raster(work):
    shutil.copyfile(work / "x.tif", work / "half.tif")
    truncate_to(work / "half.tif", 0.5)
    return {"INPUT": str(work / "half.tif"), "OUTPUT": str(work / "m.tif")}, "damaged or incomplete"


CASES = {f.__name__.lstrip("_").replace("_", "-"): f for f in (
    _output_is_input, _confidence_is_output, _output_inside_product, _quantification_zero, _card_std_nan,
    _truncated_raster)}


@pytest.mark.parametrize("case", list(CASES))
def test_qgis_raises_the_engine_message(case, work, sample, product):
    """QGIS users must get the same one-line reason as the command line, and the same protection of their files."""
    parameters, part = CASES[case](work)
    before = snapshot(work)
    expected = cli(*_cli_args(parameters), cwd=work)
    assert_cli_error(expected, part)
    message = _run(parameters)
    assert message.strip() == error_line(expected), f"QGIS said {message!r}, the CLI {error_line(expected)!r}"
    assert_unchanged(before, snapshot(work))
    assert_no_temporaries(work)

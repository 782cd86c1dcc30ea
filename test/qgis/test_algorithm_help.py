"""Audit of every algorithm of the CloudFree provider (the graphical models included).

Each has a help text that explains every parameter and gives a reference, an
icon, a group, defaults for the parameters a user does not have to choose,
and flags that let the graphical modeler and batch mode drive it.
"""
import html
import re

import pytest

from cloudfree.algorithms.provider import ICON

#: Words skipped when taking the first words of a parameter's description.
STOP_WORDS = {"a", "an", "the", "of", "or", "and", "to", "also", "e", "g", "eg", "for", "in", "its", "this"}


def algorithm_ids():
    """The provider's algorithm ids, read from a provider of our own (the session's one may not be added yet)."""
    from qgis.core import QgsApplication

    from cloudfree.algorithms.provider import CloudFreeProvider

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("cloudfree")
    if provider is None:
        provider = CloudFreeProvider()
        provider.loadAlgorithms()
    return sorted(a.id() for a in provider.algorithms())


@pytest.fixture(params=algorithm_ids())
def algorithm(request, cloudfree_provider):
    """A fresh instance, as processing.run and the toolbox dialogs create it."""
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById(request.param)
    assert alg is not None, request.param
    return alg


def plain(text: str) -> str:
    """Help text without HTML tags and entities (a model's help is HTML), lower case, single spaces."""
    text = html.unescape(re.sub(r"</?(?:html|body|p|h\d|br|b|i|a|ul|li)\b[^>]*>", " ", text or ""))
    return " ".join(text.lower().split())


def first_words(description: str, count: int = 2) -> list:
    """The first `count` content words of a parameter description, before any parenthesis."""
    words = re.findall(r"[a-z0-9][a-z0-9\-']*", description.split("(")[0].lower())
    return [w for w in words if w not in STOP_WORDS][:count]


def explained(parameter, help_text: str) -> bool:
    """Loosely: the help names the parameter's key, or the first words of its description.

    The first two content words of the description may have up to three
    words between them ("Folder of wheels" matches "folder of the wheels");
    a one-word description, or its first word used as a label ("Dates: ..."),
    is enough alone.
    """
    key = parameter.name().lower().split(":")[-1]  # a model's outputs are <child>:<name>
    if key in help_text or key.replace("_", " ") in help_text:
        return True
    words = first_words(parameter.description())
    if not words:
        return False
    if len(words) == 1 or re.search(rf"\b{re.escape(words[0])}:", help_text):
        return re.search(rf"\b{re.escape(words[0])}\b", help_text) is not None
    gap = r"\W+(?:[\w\-']+\W+){0,3}"
    return re.search(rf"\b{re.escape(words[0])}{gap}{re.escape(words[1])}", help_text) is not None


def test_every_algorithm_is_audited(cloudfree_provider):
    ids = algorithm_ids()
    assert "cloudfree:cloudmask" in ids and "cloudfree:Mask and reconstruct a scene" in ids
    assert len(ids) == len(set(ids)) >= 11


def test_help_explains_every_parameter_and_gives_a_reference(algorithm):
    help_text = plain(algorithm.shortHelpString())
    assert len(help_text) > 200, f"{algorithm.id()}: help text missing or too short"
    missing = [f"{p.name()} ({p.description()!r})" for p in algorithm.parameterDefinitions()
               if not explained(p, help_text)]
    assert not missing, f"{algorithm.id()}: the help does not explain {missing}"
    assert algorithm.helpUrl() or "reference:" in help_text, f"{algorithm.id()}: no help URL and no 'Reference:'"


def test_icon_group_and_display_name(algorithm):
    assert not algorithm.icon().isNull()
    if algorithm.id() != "cloudfree:Mask and reconstruct a scene":  # a model shows QGIS's model icon
        assert algorithm.svgIconPath() == str(ICON)
    assert algorithm.group().strip() and algorithm.groupId().strip()
    assert algorithm.displayName().strip()


def test_parameters_a_user_need_not_choose_have_defaults(algorithm):
    """Non-optional parameters have defaults, except the inputs (layers, files) and the outputs."""
    from qgis.core import QgsProcessingParameterDefinition

    inputs = {"raster", "vector", "source", "multilayer", "file", "layer", "mesh", "pointcloud"}
    no_default = [p.name() for p in algorithm.parameterDefinitions()
                  if not p.flags() & QgsProcessingParameterDefinition.FlagOptional
                  and not p.isDestination() and p.type() not in inputs and p.defaultValue() is None]
    assert not no_default, f"{algorithm.id()}: no default for {no_default}"


def test_modeler_and_batch_can_drive_it(algorithm):
    from qgis.core import (QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingModelChildAlgorithm,
                           QgsProcessingParameterDefinition, QgsProcessingParameters)

    assert QgsProcessingModelChildAlgorithm(algorithm.id()).algorithm() is not None  # a step of a model
    flags = algorithm.flags()
    for flag in (QgsProcessingAlgorithm.FlagHideFromModeler, QgsProcessingAlgorithm.FlagHideFromToolbox):
        assert not flags & flag, f"{algorithm.id()}: flag {flag}"
    assert flags & QgsProcessingAlgorithm.FlagSupportsBatch, f"{algorithm.id()}: no batch mode"
    context = QgsProcessingContext()
    for p in algorithm.parameterDefinitions():
        assert not p.flags() & QgsProcessingParameterDefinition.FlagHidden, f"{algorithm.id()}: {p.name()} hidden"
        # models store parameters as variant maps, batch mode and the history as Python literals
        again = QgsProcessingParameters.parameterFromVariantMap(p.toVariantMap())
        assert again is not None and (again.name(), again.type()) == (p.name(), p.type())
        if p.defaultValue() is not None and not p.isDestination():
            assert p.checkValueIsAcceptable(p.defaultValue()), f"{algorithm.id()}: bad default of {p.name()}"
            assert p.valueAsPythonString(p.defaultValue(), context), p.name()


def test_help_rendered_as_html_keeps_every_word(algorithm):
    """QGIS renders help as HTML: '<scene>_mask.tif' must not lose '<scene>' as an unknown tag."""
    from qgis.PyQt.QtGui import QTextDocument

    raw = algorithm.plain_help() if hasattr(algorithm, "plain_help") else ""
    if not raw:
        pytest.skip("a graphical model: QGIS writes its help")
    doc = QTextDocument()
    doc.setHtml(algorithm.shortHelpString())
    shown = " ".join(doc.toPlainText().split())
    for placeholder in set(re.findall(r"<[^<>\s]+>", raw)):
        assert placeholder in shown, placeholder
    assert " ".join(raw.split()) == shown


def test_a_parameter_name_means_the_same_in_every_algorithm(cloudfree_provider):
    """A graphical model wires one value into several algorithms: RESOLUTION 0 must be 10 m in all of them."""
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    seen = {}
    for alg_id in algorithm_ids():
        alg = registry.createAlgorithmById(alg_id)
        for name in ("RESOLUTION", "BAND_PRESET", "BAND_MAPPING"):
            p = alg.parameterDefinition(name)
            if p is None:
                continue
            kind = p.type()
            options = list(p.options()) if kind == "enum" else []
            seen.setdefault(name, []).append((alg_id, kind, options, p.defaultValue()))
    assert len(seen.get("RESOLUTION", [])) >= 4 and len(seen.get("BAND_PRESET", [])) >= 4
    for alg_id, kind, options, _ in seen["RESOLUTION"]:
        assert kind == "enum" and options[:3] == ["10 m", "20 m", "60 m"], (alg_id, options)
    presets = {tuple(options) for _, _, options, _ in seen["BAND_PRESET"]}
    assert len(presets) == 1, presets
    assert {kind for _, kind, _, _ in seen["BAND_MAPPING"]} == {"string"}


def test_every_parameter_has_its_own_help_shown_as_its_tooltip_and_on_the_help_page(algorithm):
    """Each parameter declares what it does (PARAMETER_HELP): the dialog's tooltip and a line of the help page."""
    if not hasattr(algorithm, "parameter_help"):
        pytest.skip("a graphical model: its help is the model's own")
    page = " ".join(algorithm.plain_help().split())
    missing = [p.name() for p in algorithm.parameterDefinitions() if not p.help().strip()]
    assert not missing, f"{algorithm.id()}: no help for {missing}; add them to PARAMETER_HELP"
    from cloudfree.algorithms.common import CloudFreeAlgorithm

    unused = set(algorithm.parameter_help()) - {p.name() for p in algorithm.parameterDefinitions()}
    unused -= set(CloudFreeAlgorithm.PARAMETER_HELP)  # shared help of parameters this algorithm may not have
    assert not unused, f"{algorithm.id()}: help of no parameter {unused}"
    for p in algorithm.parameterDefinitions():
        line = " ".join(f"{p.description()}: {p.help()}".split())
        assert line in page, f"{algorithm.id()}: the help page lacks {p.name()}"
        assert " ".join(p.help().split())[:40] in " ".join(p.toolTip().split()), p.name()
    # the summary above the parameter lines no longer repeats them
    summary = algorithm.help_text()
    assert len(summary) < 2500, f"{algorithm.id()}: describe parameters in PARAMETER_HELP, not in help_text"


def test_each_algorithm_sits_in_its_toolbox_group(cloudfree_provider):
    """The toolbox groups by task; an algorithm in the wrong group is hard to find (train once sat in Masking)."""
    from qgis.core import QgsApplication

    expected = {"cloudmask": "masking", "sclmask": "masking", "reconstruct": "reconstruction",
                "gapfill": "reconstruction", "composite": "reconstruction", "evaluate_reconstruction": "reconstruction",
                "train": "training", "evaluate": "training", "batch": "batch", "dependencies": "setup",
                "copymodels": "setup"}
    registry = QgsApplication.processingRegistry()
    groups = {name: registry.createAlgorithmById(f"cloudfree:{name}").groupId() for name in expected}
    assert groups == expected

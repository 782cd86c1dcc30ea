"""Model cards: the JSON beside each ONNX file that says how to feed it.

The engine trusts nothing about a model that its card does not state, and
refuses a card whose sha256 does not match the file, so that a model swapped
on disk cannot silently receive the wrong bands or scaling.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..io.bands import canonical_band
from ..errors import BandMappingError, InputError, ModelCardError

MASK_CLASSES: Dict[int, str] = {0: "clear", 1: "thick cloud", 2: "thin cloud", 3: "cloud shadow"}
NODATA_CLASS = 255
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
#: Bundled models, best first; "auto" picks the first whose bands the input has.
BUNDLED_MODELS = ["cloudfree_s2", "cloudfree_bgrn", "cloudfree_rgb"]
DEFAULT_MODEL = BUNDLED_MODELS[0]
AUTO_MODEL = "auto"


def choose_bundled_model(available_bands: Sequence[str]) -> str:
    """The best bundled model for the bands an input provides, or an error naming what is missing."""
    have = set(available_bands)
    for name in BUNDLED_MODELS:
        card_path = MODELS_DIR / f"{name}.json"
        if card_path.is_file() and set(json.loads(card_path.read_text(encoding="utf-8"))["bands"]) <= have:
            return name
    raise BandMappingError(
        f"No bundled model runs on bands {', '.join(sorted(have)) or '(none)'}; the smallest needs B02, B03 "
        "and B04 (blue, green, red). Give a band mapping that names them.")


@dataclass(frozen=True)
class ModelCard:
    """What the engine needs to know to run one model, of either kind (KINDS).

    Both kinds share the file, bands, tiling and hash; a cloud-mask model
    adds its normalisation, classes and output.  A reconstruction model
    normalises each patch by its own clear pixels (core.reconstruction.inpaint_input),
    so `mean`, `std` and `classes` are empty for it.
    """

    name: str
    onnx_path: Path
    bands: List[str]
    resolution_m: int
    mean: List[float]
    std: List[float]
    classes: Dict[int, str]
    patch_size: int
    overlap: int
    input_multiple: int
    output: str  # "probabilities" or "logits" (mask); "reflectance" (inpaint)
    sha256: str
    raw: Dict[str, Any] = field(repr=False, default_factory=dict)
    kind: str = "mask"

    @property
    def decision_weights(self) -> Tuple[float, float]:
        """(cloud, shadow) probability weights of the class decision; (1, 1) when the card states none."""
        d = self.raw.get("decision") or {}
        return float(d.get("cloud_weight", 1.0)), float(d.get("shadow_weight", 1.0))

    @property
    def thresholds(self) -> Tuple[float, float]:
        """The card's calibrated decision as probability thresholds (cloud, shadow), see `weights_for`."""
        cloud, shadow = (round(1.0 / (1.0 + w), 3) for w in self.decision_weights)
        return cloud, shadow

    def weights_for(self, cloud_threshold: Optional[float] = None,
                    shadow_threshold: Optional[float] = None) -> Tuple[float, float]:
        """Decision weights with an analyst's thresholds in place of the card's calibrated ones.

        A threshold t maps to the weight w = (1 - t) / t, so that w x p > 1 - p
        exactly where p > t: cloud where P(cloud) > t (decide_classes weighs
        cloud against everything else), shadow, among the pixels that are not
        cloud, where P(shadow) / (P(shadow) + P(clear)) > t.  Lower is more
        sensitive, as with s2cloudless's 0.4.
        """
        weights = list(self.decision_weights)
        for i, (name, t) in enumerate((("cloud", cloud_threshold), ("shadow", shadow_threshold))):
            if t is None:
                continue
            if not (isinstance(t, (int, float)) and 0.0 < t < 1.0):
                raise InputError(f"The {name} threshold must lie between 0 and 1 (exclusive), not {t}; lower "
                                 f"finds more {name}. {self.name} is calibrated at {self.thresholds[i]}.")
            weights[i] = (1.0 - t) / t
        return weights[0], weights[1]

    @property
    def torch_weights(self) -> Optional[Path]:
        """Path of the PyTorch state dict, if the card names one (for the PyTorch engine).

        Checked when the card is loaded: a plain file name in the card's folder.
        """
        arch = self.raw.get("architecture") or {}
        name = arch.get("weights_file")
        return (self.onnx_path.parent / name) if name else None

    def verified_torch_weights(self) -> Path:
        """The PyTorch weights, refused unless the card states their sha256 and the file matches it."""
        path = self.torch_weights
        if path is None or not path.is_file():
            raise ModelCardError(f"The model {self.name} has no PyTorch weights file beside it; use the ONNX engine.")
        expected = str((self.raw.get("architecture") or {}).get("weights_sha256", "")).lower()
        if not expected:
            raise ModelCardError(f"The card of {self.name} gives no weights_sha256 for {path.name}, so the weights "
                                 "cannot be checked; add it (sha256 of the file) or use the ONNX engine.")
        actual = sha256_of(path)
        if actual != expected:
            raise ModelCardError(f"{path.name} does not match the weights_sha256 of the card of {self.name} "
                                 f"({actual[:12]}... against {expected[:12]}...); use the weights written with "
                                 "this card or re-export the model.")
        return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _require(raw: Dict[str, Any], key: str, card_path: Path) -> Any:
    if key not in raw:
        raise ModelCardError(f"The model card {card_path} has no '{key}'; add it (see models/README.md).")
    return raw[key]


def resolve_model_path(model: Optional[str]) -> Path:
    """Turn '' / None (bundled default), a bundled name, or a path into an ONNX path."""
    if not model or model == AUTO_MODEL:
        model = DEFAULT_MODEL
    path = Path(model)
    if path.suffix.lower() not in (".onnx", ".json"):
        path = MODELS_DIR / f"{model}.onnx"
    if path.suffix.lower() == ".json":
        path = path.with_suffix(".onnx")
    if not path.is_file():
        raise ModelCardError(
            f"No model file at {path}; give the path of an .onnx file that has its .json card beside it.")
    return path


#: The kinds of model a card can describe, and what to give where the other kind was given.
KINDS = {"mask": "a cloud-mask model (cloudfree_s2, cloudfree_bgrn, cloudfree_rgb or one trained with cloudfree train)",
         "inpaint": "a reconstruction model (cloudfree_inpaint_s2 or one from models/train_reconstruction.py)",
         "thin": "a thin-cloud removal model (one from models/train_reconstruction.py --task thin)",
         "multidate": "a multi-date fill model (one from models/train_multidate.py)"}
_TASK_KINDS = {"reconstruction": "inpaint", "thin_cloud_removal": "thin", "multidate_fill": "multidate"}


def card_kind(raw: Dict[str, Any]) -> str:
    """The kind of a card from its task: 'inpaint' (reconstruction), 'thin' (thin-cloud removal), 'multidate'
    (learned multi-date fill), else 'mask'."""
    return _TASK_KINDS.get(str(raw.get("task")), "mask")


def read_card(model: Optional[str], kind: str) -> Tuple[Path, Path, Dict[str, Any]]:
    """(ONNX path, card path, card as read) of a model by bundled name or path, refused unless it is of `kind`.

    The one reader of every card, for load_card.
    """
    onnx_path = resolve_model_path(model)
    card_path = onnx_path.with_suffix(".json")
    if not card_path.is_file():
        raise ModelCardError(
            f"The model {onnx_path.name} has no model card; put {card_path.name} beside it "
            "(bands, resolution_m, normalisation, classes, patch_size, overlap, sha256).")
    try:
        raw = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelCardError(f"Cannot read the model card {card_path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelCardError(f"The model card {card_path} is not a JSON object; see models/README.md for its fields.")
    if card_kind(raw) != kind:
        raise ModelCardError(f"{onnx_path.name} is {KINDS[card_kind(raw)]}, not {KINDS[kind]}; give one of those.")
    return onnx_path, card_path, raw


def load_card(model: Optional[str] = None, verify_hash: bool = True, kind: str = "mask") -> ModelCard:
    """Read and check the card of a model of `kind` (KINDS) given by bundled name or by path."""
    onnx_path, card_path, raw = read_card(model, kind)
    try:
        return _parse_card(raw, onnx_path, card_path, verify_hash, kind)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        if isinstance(exc, ModelCardError):
            raise
        raise ModelCardError(f"The model card {card_path} has a malformed field ({exc}); compare it with a "
                             "bundled card (models/*.json).") from exc


def load_versioned_card(model: str, kind: str, version: int, retrain: str) -> ModelCard:
    """load_card for a reconstruction network, refused when it was made for another version of the input its
    engine builds (`retrain`: the command that makes one that fits)."""
    card = load_card(model, kind=kind)
    if card.raw.get("input_version") != version:
        raise ModelCardError(f"{card.onnx_path.name} was made for another network input (version "
                             f"{card.raw.get('input_version', 1)}, this engine feeds version {version}); "
                             f"retrain it with {retrain}.")
    return card


def _finite_list(value: Any, what: str, card_path: Path) -> List[float]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                              for v in value):
        raise ModelCardError(f"{what} in the model card {card_path} must be a list of numbers.")
    out = [float(v) for v in value]
    if not all(math.isfinite(v) for v in out):
        raise ModelCardError(f"{what} in the model card {card_path} holds NaN or infinity; every value must be finite.")
    return out


def _check_weights_file(raw: Dict[str, Any], card_path: Path) -> None:
    """The weights file a card names must be a plain file name in the card's own folder."""
    arch = raw.get("architecture") or {}
    if not isinstance(arch, dict):
        raise ModelCardError(f"'architecture' in the model card {card_path} must be an object.")
    name = arch.get("weights_file")
    if name is None:
        return
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", "..") or "\\" in name:
        raise ModelCardError(f"The model card {card_path} names the weights file {name!r}; it must be a plain file "
                             "name beside the card (no folders, no '..').")


def _parse_card(raw: Dict[str, Any], onnx_path: Path, card_path: Path, verify_hash: bool,
                kind: str = "mask") -> ModelCard:
    band_list = _require(raw, "bands", card_path)
    if not isinstance(band_list, list) or not band_list or not all(isinstance(b, str) for b in band_list):
        raise ModelCardError(f"'bands' in the model card {card_path} must be a non-empty list of band names.")
    bands = [canonical_band(b) for b in band_list]
    resolution = int(_require(raw, "resolution_m", card_path))
    if resolution not in (10, 20, 60):
        raise ModelCardError(f"resolution_m must be 10, 20 or 60 in {card_path}, not {resolution}.")
    mask = _parse_mask_fields(raw, card_path, len(bands)) if kind == "mask" else \
        {"mean": [], "std": [], "classes": {}, "output": "reflectance"}
    expected = str(_require(raw, "sha256", card_path)).lower()
    if verify_hash:
        actual = sha256_of(onnx_path)
        if actual != expected:
            raise ModelCardError(
                f"The model card {card_path.name} belongs to another file: its sha256 is "
                f"{expected[:12]}... but {onnx_path.name} hashes to {actual[:12]}... . "
                "Use the card that was written with this model, or re-export the model.")
    card = ModelCard(
        name=str(raw.get("name", onnx_path.stem)), onnx_path=onnx_path, bands=bands, resolution_m=resolution,
        patch_size=int(_require(raw, "patch_size", card_path)),
        overlap=int(raw.get("overlap", 0)), input_multiple=int(raw.get("input_multiple", 1)),
        sha256=expected, raw=raw, kind=kind, **mask)
    if not (16 <= card.patch_size <= 4096 and 1 <= card.input_multiple <= 256 and 0 <= card.overlap < card.patch_size):
        raise ModelCardError(f"The model card {card_path} gives patch_size {card.patch_size}, overlap {card.overlap} "
                             f"and input_multiple {card.input_multiple}; they must satisfy 16 <= patch_size <= 4096, "
                             "0 <= overlap < patch_size and 1 <= input_multiple <= 256.")
    if card.patch_size % card.input_multiple:
        raise ModelCardError(
            f"patch_size {card.patch_size} in {card_path} is not a multiple of input_multiple {card.input_multiple}.")
    return card


def _parse_mask_fields(raw: Dict[str, Any], card_path: Path, n_bands: int) -> Dict[str, Any]:
    """Normalisation, classes, output and decision of a cloud-mask card, checked."""
    norm = _require(raw, "normalisation", card_path)
    if not isinstance(norm, dict):
        raise ModelCardError(f"'normalisation' in the model card {card_path} must be an object with mean and std.")
    mean = _finite_list(norm.get("mean", []), "normalisation.mean", card_path)
    std = _finite_list(norm.get("std", []), "normalisation.std", card_path)
    if len(mean) != n_bands or len(std) != n_bands or any(s <= 0 for s in std):
        raise ModelCardError(
            f"The model card {card_path} needs one mean and one positive std per band "
            f"({n_bands} bands); it has {len(mean)} and {len(std)}.")
    _check_weights_file(raw, card_path)
    classes_raw = _require(raw, "classes", card_path)
    if not isinstance(classes_raw, dict):
        raise ModelCardError(f"'classes' in the model card {card_path} must map class numbers to names.")
    classes = {int(k): str(v) for k, v in classes_raw.items()}
    if sorted(classes) != sorted(MASK_CLASSES):
        raise ModelCardError(
            f"The model card {card_path} lists classes {sorted(classes)}; CloudFree masks need "
            "exactly 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow.")
    output = raw.get("output", "probabilities")
    if output not in ("probabilities", "logits"):
        raise ModelCardError(f"'output' must be 'probabilities' or 'logits' in {card_path}, not '{output}'.")
    decision = raw.get("decision") or {}
    for key in ("cloud_weight", "shadow_weight"):
        value = decision.get(key, 1.0) if isinstance(decision, dict) else None
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0.01 <= value <= 100:
            raise ModelCardError(f"decision.{key} in {card_path} must be a number between 0.01 and 100, "
                                 f"not {value!r}.")
    return {"mean": mean, "std": std, "classes": classes, "output": output}


def write_card(onnx_path: Path, fields: Dict[str, Any]) -> Path:
    """Write a card for an exported model, stamping it with the file's sha256."""
    raw = dict(fields)
    raw["sha256"] = sha256_of(onnx_path)
    card_path = onnx_path.with_suffix(".json")
    card_path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    return card_path

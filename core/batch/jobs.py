"""Batch processing of many .SAFE products: one mask (and optionally a reconstruction) per scene.

A batch is a list of products and an output folder.  Each scene is one task
(`process_scene`) that is safe to run again: it writes its outputs
atomically and, last, a small JSON record beside them; a scene with a record
and its outputs is done.  So a stopped batch resumes where it stopped, a
task rerun after a worker died (core.batch.dask_executor) finds the outputs of the
first run or makes them anew, and no scene is written twice under its final
names.  A record keeps the options it was made with; other options redo
the scene.  The summary table (CSV and JSON) lists every scene once, in the
order given.

This module is the scene's job; core.batch.runner runs the jobs of a batch on an
executor (core.batch.local here, core.batch.dask_executor on a cluster).
"""
from __future__ import annotations

import csv
import glob
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..io.bands import DEFAULT_MASK_RESOLUTION_M
from ..errors import CloudFreeError, InputError
from ..io.inputs import is_safe_input
from ..io.outputs import pid_alive
from ..progress import Feedback, SubFeedback

SUMMARY_COLUMNS = ["scene", "date", "tile", "cloud_percent", "shadow_percent", "seconds", "status", "mask",
                   "reconstruction", "worker", "error"]
DONE, DONE_BEFORE, FAILED, CANCELLED = "done", "done before", "failed", "cancelled"
BUSY = "skipped: in progress elsewhere"
Inputs = Union[str, Path, Sequence[Union[str, Path]]]


@dataclass(frozen=True)
class BatchOptions:
    """What to do with each scene (picklable: it travels to Dask workers)."""

    model: Optional[str] = None
    resolution_m: int = DEFAULT_MASK_RESOLUTION_M
    device: str = "auto"
    engine: str = "onnx"
    batch_size: int = 4
    buffer_px: int = 0
    shadow_geometry: bool = True
    confidence: bool = False
    reconstruct: bool = False


@dataclass(frozen=True)
class ScenePaths:
    """Where a scene's outputs go: <out>/<scene>_mask.tif and friends, and its record <scene>.done.json."""

    out_dir: Path
    scene: str

    def _file(self, suffix: str) -> Path:
        return self.out_dir / f"{self.scene}{suffix}"

    @property
    def mask(self) -> Path:
        return self._file("_mask.tif")

    @property
    def confidence(self) -> Path:
        return self._file("_confidence.tif")

    @property
    def reconstruction(self) -> Path:
        return self._file("_reconstructed.tif")

    @property
    def record(self) -> Path:
        return self._file(".done.json")

    @property
    def claim(self) -> Path:
        """Written while a worker processes the scene (host and pid), removed when it is done."""
        return self._file(".running.json")

    def outputs(self, options: BatchOptions) -> List[Path]:
        files = [self.mask]
        if options.confidence:
            files.append(self.confidence)
        if options.reconstruct:
            files.append(self.reconstruction)
        return files

    def stale_temporaries(self) -> List[Path]:
        """Hidden half-written files of a run that was killed (core.io.outputs names them .<stem>.cloudfree-*)."""
        return [Path(p) for p in glob.glob(str(self.out_dir / f".{glob.escape(self.scene)}_*.cloudfree-*"))]


def scene_name(product: Union[str, Path]) -> str:
    """The product name without .SAFE / .zip (an MTD file names its product folder)."""
    p = Path(product)
    if p.suffix.lower() == ".xml":
        p = p.parent
    name = p.name
    for ext in (".zip", ".SAFE", ".safe"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    return name


def find_products(inputs: Inputs) -> List[Path]:
    """Products from a folder (its *.SAFE folders and *.zip files), a glob, a list file (.txt, one per line),
    or a list of any of these; in a stable order, each once."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    found: List[Path] = []
    for item in items:
        text = str(item)
        p = Path(text)
        if any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise InputError(f"The pattern {text} matches no product.")
            found += [Path(m) for m in matches]
        elif p.is_file() and p.suffix.lower() == ".txt":
            lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
            found += [(p.parent / ln) if not Path(ln).is_absolute() else Path(ln)
                      for ln in lines if ln and not ln.startswith("#")]
        elif p.is_dir() and not p.name.upper().endswith(".SAFE") and not (p / "manifest.safe").exists():
            found += sorted(q for q in p.iterdir() if q.name.upper().endswith((".SAFE", ".ZIP")))
        else:
            found.append(p)
    products, seen = [], set()
    for p in found:
        if not p.exists():
            raise InputError(f"The product {p} does not exist; check the folder, pattern or list file.")
        if not is_safe_input(p):
            raise InputError(f"{p} is not a Sentinel-2 product (.SAFE folder, .zip or MTD_MSIL*.xml); the batch "
                             "runs on products.")
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            products.append(p)
    if not products:
        raise InputError(f"No Sentinel-2 product found in {', '.join(map(str, items))}: give a folder of "
                         ".SAFE folders or .zip files, a glob such as 'S2*_MSIL1C_*.SAFE', or a .txt list.")
    names = [scene_name(p) for p in products]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"Two products share the name {twice[0]}; their outputs would collide. Give each once.")
    return products


def _atomic_json(path: Path, data: Dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def finished_row(paths: ScenePaths, options: BatchOptions) -> Optional[Dict]:
    """The row of a scene done earlier with the same options, if its record and all its outputs are there."""
    if not paths.record.is_file() or not all(p.is_file() for p in paths.outputs(options)):
        return None
    try:
        record = json.loads(paths.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.pop("options", None) != asdict(options):
        return None  # done with another model, resolution, buffer or outputs: done again
    return record


class SceneBusy(CloudFreeError):
    """Another live process is processing this scene into the same folder: skip it, it is not a failure."""


def _claim(paths: ScenePaths, worker: str) -> None:
    """Mark the scene as being processed, atomically; SceneBusy if a live process on this machine already is.

    The claim is written whole under a private name and hard-linked into
    place, which fails if the claim exists: of two batches that reach the
    same scene at the same moment exactly one proceeds, and no reader ever
    sees an empty claim.  A claim left by a dead process is taken over.
    """
    host = socket.gethostname()
    body = json.dumps({"scene": paths.scene, "worker": worker, "host": host, "pid": os.getpid(),
                       "started": time.time()}) + "\n"
    tmp = paths.claim.with_name(f".{paths.claim.name}.{os.getpid()}.tmp")
    tmp.write_text(body, encoding="utf-8")
    try:
        _take_claim(paths, tmp, host)
    finally:
        tmp.unlink(missing_ok=True)


def _take_claim(paths: ScenePaths, tmp: Path, host: str) -> None:
    """Link the complete claim into place (never an empty claim file), or find who holds it."""
    for _ in range(3):
        try:
            os.link(tmp, paths.claim)
        except FileExistsError:
            try:
                other = json.loads(paths.claim.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                other = None
            if other and other.get("pid") != os.getpid() and (other.get("host") != host or pid_alive(other.get("pid"))):
                raise SceneBusy(f"{paths.scene} is being processed by {other.get('worker', 'another process')} "
                                "(another batch on the same output folder); skipped here.") from None
            paths.claim.unlink(missing_ok=True)  # a dead process's claim, or an unreadable one
            continue
        return
    raise SceneBusy(f"{paths.scene}: could not claim it ({paths.claim}); skipped here.")


def process_scene(product: Union[str, Path], out_dir: Union[str, Path], options: Optional[BatchOptions] = None,
                  feedback: Optional[Feedback] = None, opened=None) -> Dict:
    """Mask (and reconstruct) one product into `out_dir`; return its summary row. Safe to run again.

    `opened`: the product already opened by core.masking.scene_mask.open_scene, its reading under way.
    """
    options = options or BatchOptions()
    from ..masking.scene_mask import cloud_mask  # deferred: ONNX Runtime loads only in processes that mask
    from ..io.safe import open_safe
    feedback = feedback or Feedback()
    paths = ScenePaths(Path(out_dir), scene_name(product))
    done = finished_row(paths, options)
    if done is not None:
        if opened is not None:
            opened.close()
        return dict(done, status=DONE_BEFORE)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        _claim(paths, worker)
    except BaseException:
        if opened is not None:
            opened.close()
        raise
    done = finished_row(paths, options)  # another process may have finished it while this one waited
    if done is not None:
        paths.claim.unlink(missing_ok=True)
        if opened is not None:
            opened.close()
        return dict(done, status=DONE_BEFORE)
    for stale in paths.stale_temporaries():
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        info = open_safe(product)
        result = cloud_mask(product, paths.mask, paths.confidence if options.confidence else None,
                            model=options.model, resolution_m=options.resolution_m, device=options.device,
                            engine=options.engine, batch_size=options.batch_size, buffer_px=options.buffer_px,
                            feedback=SubFeedback(feedback, 0.0, 60.0 if options.reconstruct else 100.0),
                            opened=opened, keep_session=True, shadow_geometry=options.shadow_geometry)
        opened = None
        row = {"scene": paths.scene, "date": info.sensing_time[:10], "tile": info.tile,
               "cloud_percent": round(result.cloud_percent, 3), "shadow_percent": round(result.shadow_percent, 3),
               "mask": str(paths.mask), "reconstruction": "", "worker": worker, "error": ""}
        if options.reconstruct:
            row["reconstruction"] = _reconstruct_scene(product, paths, options, result, feedback)
        row.update(seconds=round(time.perf_counter() - started, 2), status=DONE)
        _atomic_json(paths.record, dict(row, options=asdict(options)))
    except BaseException:
        if opened is not None:
            opened.close()
        for p in paths.outputs(BatchOptions(confidence=True, reconstruct=True)):  # no half-done scene stays
            p.unlink(missing_ok=True)
            p.with_suffix(".qml").unlink(missing_ok=True)
        paths.record.unlink(missing_ok=True)
        raise
    finally:
        paths.claim.unlink(missing_ok=True)
    return row


def _reconstruct_scene(product, paths: ScenePaths, options: BatchOptions, mask_result, feedback: Feedback) -> str:
    """The reconstruction of a scene, or why there is none (nothing masked, or nothing clear)."""
    from ..reconstruction.reconstruct import MAX_MASKED_PERCENT, reconstruct
    if mask_result.cloud_percent + mask_result.shadow_percent == 0:
        return "not needed: no cloud or shadow"
    if mask_result.cloud_percent + mask_result.shadow_percent >= 99.99:
        return "not possible: no clear pixel"
    masked = mask_result.cloud_percent  # shadows are relit from their own pixels, not invented
    if masked > MAX_MASKED_PERCENT:
        return f"not done: {masked:.0f} % masked, above {MAX_MASKED_PERCENT:g} % one image invents nearly all; gap-fill it"
    reconstruct(product, paths.mask, paths.reconstruction, resolution_m=options.resolution_m,
                feedback=SubFeedback(feedback, 60.0, 100.0))
    return str(paths.reconstruction)


@dataclass
class BatchResult:
    rows: List[Dict]
    summary_csv: Path
    summary_json: Path
    seconds: float
    counts: Dict[str, int] = field(default_factory=dict)


def failed_row(product: Union[str, Path], status: str, error: str) -> Dict:
    return {"scene": scene_name(product), "date": "", "tile": "", "cloud_percent": "", "shadow_percent": "",
            "seconds": "", "status": status, "mask": "", "reconstruction": "", "worker": "", "error": error}


def write_summary(rows: Sequence[Dict], out_dir: Path) -> tuple:
    """summary.csv and summary.json in the output folder, replaced atomically."""
    csv_path, json_path = out_dir / "summary.csv", out_dir / "summary.json"
    tmp = out_dir / f".summary.csv.{os.getpid()}.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, csv_path)
    _atomic_json(json_path, {"scenes": list(rows)})
    return csv_path, json_path


def check_out_dir(out_dir: Union[str, Path], products: Sequence[Path] = ()) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"The output folder {out} is a file; give a folder (it is created if missing).")
    real = os.path.realpath(out)
    for product in products:
        root = os.path.realpath(product.parent if product.suffix.lower() == ".xml" else product)
        if real == root or os.path.commonpath([real, root]) == root:
            raise InputError(f"The output folder {out} lies inside the input product {product.name}: its outputs "
                             "would overwrite the input. Choose a folder outside every product.")
    if not out.parent.is_dir():
        raise InputError(f"The folder {out.parent} of the output folder does not exist; create it first.")
    out.mkdir(exist_ok=True)
    if not os.access(out, os.W_OK):
        raise InputError(f"The output folder {out} is not writable; choose another.")
    return out


__all__ = ["BatchOptions", "BatchResult", "ScenePaths", "find_products", "process_scene",
           "scene_name", "SUMMARY_COLUMNS", "DONE", "DONE_BEFORE", "FAILED", "CANCELLED", "BUSY", "SceneBusy"]

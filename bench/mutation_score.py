"""Mutation score of the modules that decide pixels: would the tests notice a small plausible bug?

Each mutant is one small edit of the source (a comparison, a constant, an
argument order, a dropped step), the kind of slip a refactoring makes.  For
each, the tests that exercise its module are run; the mutant is *killed* when
a test fails and *survives* when they all pass.  The score is killed / total,
per module and overall.  Survivors that cannot be killed (equivalent mutants)
are listed with the reason in EXPLAINED.

The mutants are applied to a copy of the repository in a temporary folder (its
package made importable as `cloudfree` through PYTHONPATH), never to the
working tree: nothing here writes a file of the repository, and the copy is
deleted at the end, even after an error or Ctrl-C.

    OMP_NUM_THREADS=1 .venv/bin/python bench/mutation_score.py                 # every mutant, all tests
    OMP_NUM_THREADS=1 .venv/bin/python bench/mutation_score.py --before        # without test/**/test_oracle_*.py
    .venv/bin/python bench/mutation_score.py --only D1,B1,M1 -v                # some mutants, with test output
    .venv/bin/python bench/mutation_score.py --module core/masking/morphology.py
    .venv/bin/python bench/mutation_score.py --list                            # the mutants, nothing run
    .venv/bin/python bench/mutation_score.py --json out/bench/mutation.json

`--before` measures the suite as it was before the oracle tests (test_oracle_*.py)
(test/**/test_oracle_*.py and test/fixtures/), with the same mutants.  A
whole run takes 20 to 40 minutes on 2 CPU cores; it is not part of `make test`
or CI (`make mutation` runs it).  mutmut was not used: it mutates and tests
the whole package in place (a `mutants/` copy of the working tree, every test
for every mutant), while this curated list runs the tests of one module per
mutant in a sandbox and also covers the pixel path through modules no test
targets directly.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional
from results_file import write_json  # noqa: E402 - bench/ is the script's folder

ROOT = Path(__file__).resolve().parents[1]
NEW_TESTS = "test/**/test_oracle_*.py"     # the oracle tests (left out by --before)


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str         # relative to the repository root
    old: str          # text that must occur in the file (exactly once, unless nth is given)
    new: str
    what: str
    nth: Optional[int] = None   # which occurrence, when `old` occurs more than once


M = Mutant
MUTANTS: List[Mutant] = [
    # -- DN scaling: core/io/dn.py, and the scaling in core/io/safe.py and core/io/sources.py ----------------------
    M("N1", "core/io/dn.py", "return (dn.astype(np.float32) + off) / div", "return (dn.astype(np.float32) - off) / div",
      "decode subtracts the offset"),
    M("N2", "core/io/dn.py", "value = reflectance.astype(np.float64) * div - off",
      "value = reflectance.astype(np.float64) * div + off", "encode adds the offset"),
    M("N3", "core/io/dn.py", "out = np.clip(np.rint(value), info.min, info.max)",
      "out = np.clip(np.trunc(value), info.min, info.max)", "encode truncates instead of rounding"),
    M("N4", "core/io/dn.py", "empty = np.all(out == 0, axis=0)", "empty = np.any(out == 0, axis=0)",
      "a pixel with one zero band is moved off 0"),
    M("N5", "core/io/dn.py", "ok &= ~np.any(dn == self.nodata, axis=0)", "ok &= ~np.all(dn == self.nodata, axis=0)",
      "no data only when every band is at the no-data value"),
    M("N6", "core/io/dn.py", "return tuple(reflectance * d - o for", "return tuple(reflectance * d + o for",
      "dn_of adds the offset"),
    M("N7", "core/io/dn.py", "return cls(source.dtype, tuple(float(o) for o, _ in source.scales),",
      "return cls(source.dtype, tuple(float(o) for _, o in source.scales),", "codec of a product: divisor as offset"),
    M("N8", "core/io/dn.py", "return cls(source.dtype, (float(source.dn_offset),) * n, (float(source.dn_scale),) * n,",
      "return cls(source.dtype, (float(source.dn_scale),) * n, (float(source.dn_offset),) * n,",
      "codec of a raster: scale and offset swapped"),
    M("N9", "core/io/dn.py", "ok &= np.all(np.isfinite(dn), axis=0)", "ok &= np.any(np.isfinite(dn), axis=0)",
      "NaN in one band does not mark the pixel"),
    M("N10", "core/io/dn.py", "out[hit] = self.nodata + 1 if self.nodata < info.max else self.nodata - 1",
      "out[hit] = self.nodata + 1 if self.nodata <= info.max else self.nodata - 1",
      "no-data at the type's maximum moved past it"),
    M("S1", "core/io/safe.py", 'tag = "RADIO_ADD_OFFSET" if level == "L1C"', 'tag = "RADIOMETRIC_OFFSET" if level == "L1C"',
      "the L1C offset tag at baseline 04.00+ misread"),
    M("S2", "core/io/safe.py", 'tag = "RADIO_ADD_OFFSET" if level == "L1C"', 'tag = "RADIO_ADD_OFFSET" if level == "L2A"',
      "offset tags of L1C and L2A swapped"),
    M("S3", "core/io/safe.py", 'name = "B8A" if phys == "B8A" else f"B{int(num):02d}"',
      'name = "B8A" if phys == "B8A" else f"B{int(num) + 1:02d}"', "band_id mapped to the next band"),
    M("S4", "core/io/safe.py", 'quant_tag = "QUANTIFICATION_VALUE" if level == "L1C"',
      'quant_tag = "QUANTIFICATION_VALUE" if level == "L2A"', "quantification tags of L1C and L2A swapped"),
    M("S5", "core/io/safe.py", "if float(baseline) >= 4.0 and not offsets:", "if float(baseline) > 4.0 and not offsets:",
      "baseline 04.00 itself not checked for its offset"),
    M("S6", "core/io/safe.py", "return self.offsets.get(band, 0.0), self.quantification",
      "return self.offsets.get(band, -1000.0), self.quantification", "a product without offsets gets -1000"),
    M("S7", "core/io/safe.py", "res_m = int(res) if res else NATIVE_RESOLUTION_M[band]", "res_m = int(res) if res else 10",
      "L1C band files all taken as 10 m"),
    M("S8", "core/io/safe.py", 'out[ids.get(el.get("band_id", ""), el.get("band_id", ""))] = _number(el.text, tag, name)',
      'out[ids.get(el.get("band_id", ""), el.get("band_id", ""))] = -_number(el.text, tag, name)',
      "offset sign flipped"),
    M("O1", "core/io/sources.py", "data = (data + self.dn_offset) / self.dn_scale",
      "data = (data - self.dn_offset) / self.dn_scale", "raster offset subtracted"),
    M("O2", "core/io/sources.py", "np.integer) else 1.0", "np.integer) else 10000.0",
      "float rasters divided by 10000"),
    M("O3", "core/io/sources.py", "valid = np.any(data != 0, axis=0)", "valid = np.all(data != 0, axis=0)",
      "a raster without no-data value: one zero band makes a pixel invalid"),
    M("O4", "core/io/sources.py", "valid = ~np.any(raw == self.nodata, axis=0)", "valid = ~np.all(raw == self.nodata, axis=0)",
      "no data only when every band is at the no-data value"),
    M("O5", "core/io/sources.py", "out[i] = (raw[i].astype(np.float32) + offset) / divisor",
      "out[i] = (raw[i].astype(np.float32) - offset) / divisor", "product offset subtracted"),
    M("O6", "core/io/sources.py", "all_zero = np.all(raw == 0, axis=0)", "all_zero = np.any(raw == 0, axis=0)",
      "a product pixel with one zero band is no data"),
    M("O7", "core/io/sources.py", "return Resampling.average if factor > 1 else Resampling.bilinear",
      "return Resampling.bilinear if factor > 1 else Resampling.average", "bilinear when shrinking"),
    M("O8", "core/io/sources.py", "return resolution_m / math.sqrt(mx * my)", "return math.sqrt(mx * my) / resolution_m",
      "resampling factor inverted"),
    # -- band presets: core/io/bands.py -------------------------------------------------------------------------
    M("B1", "core/io/bands.py", '"rgb": ["B04", "B03", "B02"],', '"rgb": ["B02", "B03", "B04"],',
      "RGB preset read as B02 B03 B04"),
    M("B2", "core/io/bands.py", '"bgrn": ["B02", "B03", "B04", "B08"],', '"bgrn": ["B03", "B02", "B04", "B08"],',
      "bgrn preset with blue and green swapped"),
    M("B3", "core/io/bands.py", 'L2A_BANDS: List[str] = [b for b in ALL_BANDS if b != "B10"]',
      'L2A_BANDS: List[str] = [b for b in ALL_BANDS if b != "B09"]', "L2A drops B09 instead of B10"),
    M("B4", "core/io/bands.py", "return {band: i + 1 for i, band in enumerate(PRESETS[preset])}",
      "return {band: i for i, band in enumerate(PRESETS[preset])}", "presets count bands from 0"),
    M("B5", "core/io/bands.py", "if index < 1:", "if index < 0:", "band 0 accepted"),
    M("B6", "core/io/bands.py", "if mapping[b] > band_count}", "if mapping[b] >= band_count}",
      "the last raster band refused"),
    M("B7", "core/io/bands.py", '"B8": "B08"', '"B8": "B8A"', "B8 taken as B8A"),
    M("B8", "core/io/bands.py", '"s2_l2a": L2A_BANDS,', '"s2_l2a": ALL_BANDS,', "L2A preset with B10"),
    M("B9", "core/io/bands.py", "return [mapping[b] for b in required]", "return sorted(mapping[b] for b in required)",
      "raster bands returned in file order, not the model's"),
    M("B10", "core/io/bands.py", '"B8A": 20', '"B8A": 10', "B8A native resolution 10 m"),
    # -- class decision: decide_classes in core/masking/class_raster.py ----------------------------------------------
    M("D1", "core/masking/class_raster.py", "is_cloud = cloud * cloud_w > p[0] + p[3]", "is_cloud = cloud * cloud_w > 0.6",
      "cloud against a fixed threshold, not against clear + shadow"),
    M("D2", "core/masking/class_raster.py", "is_cloud = cloud * cloud_w > p[0] + p[3]",
      "is_cloud = cloud * cloud_w > np.maximum(p[0], shadow)", "cloud by plurality against the weighted shadow"),
    M("D3", "core/masking/class_raster.py", "is_cloud = cloud * cloud_w > p[0] + p[3]",
      "is_cloud = cloud * cloud_w >= p[0] + p[3]", "ties go to cloud"),
    M("D4", "core/masking/class_raster.py", "is_cloud = cloud * cloud_w > p[0] + p[3]",
      "is_cloud = cloud * cloud_w > p[0] + shadow", "cloud compared with the weighted shadow"),
    M("D5", "core/masking/class_raster.py", "classes = np.where(shadow > p[0], 3, 0)", "classes = np.where(shadow >= p[0], 3, 0)",
      "ties of shadow and clear go to shadow"),
    M("D6", "core/masking/class_raster.py", "np.where(p[1][is_cloud] >= p[2][is_cloud], 1, 2)",
      "np.where(p[1][is_cloud] > p[2][is_cloud], 1, 2)", "ties of thick and thin go to thin"),
    M("D7", "core/masking/class_raster.py", "cloud_w, shadow_w = weights", "shadow_w, cloud_w = weights",
      "decision weights swapped"),
    M("D8", "core/masking/class_raster.py", "is_cloud = cloud * cloud_w >", "is_cloud = cloud >",
      "cloud weight ignored"),
    M("D9", "core/masking/class_raster.py", "shadow = p[3] * shadow_w if shadow_w != 1.0 else p[3]",
      "shadow = p[3] * shadow_w if shadow_w == 1.0 else p[3]", "shadow weight ignored"),
    M("D10", "core/masking/class_raster.py", "cloud = p[1] + p[2]", "cloud = np.maximum(p[1], p[2])",
      "thick and thin compete separately (argmax)"),
    M("D11", "core/masking/class_raster.py", "p = np.moveaxis(probs, axis, 0)", "p = np.moveaxis(probs, 0, axis)",
      "class axis moved the wrong way"),
    # -- blending: core/model/tiling.py ----------------------------------------------------------------------------
    M("T1", "core/model/tiling.py", "stride = patch - overlap", "stride = patch", "patches do not overlap"),
    M("T2", "core/model/tiling.py", "if starts[-1] + patch < length:", "if starts[-1] + patch <= length:",
      "a last patch added twice"),
    M("T3", "core/model/tiling.py", "r = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap",
      "r = (np.arange(overlap, dtype=np.float32) + 1.0) / overlap", "ramp shifted by half a pixel"),
    M("T4", "core/model/tiling.py", "if not at_start:", "if at_start:", "ramp at the image edge, not the inner border"),
    M("T5", "core/model/tiling.py", "w[-overlap:] = np.minimum(w[-overlap:], r[::-1])",
      "w[-overlap:] = np.minimum(w[-overlap:], r)", "falling ramp not reversed"),
    M("T6", "core/model/tiling.py", "return np.maximum(w, MIN_WEIGHT)", "return w", "no least weight"),
    M("T7", "core/model/tiling.py", "return np.outer(ramp(patch, overlap, top, bottom), ramp(patch, overlap, left, right))",
      "return np.outer(ramp(patch, overlap, left, right), ramp(patch, overlap, top, bottom))",
      "row and column ramps swapped"),
    M("T8", "core/model/tiling.py", "if requested <= side:", "if requested < side:", "a patch the size of the image shrunk"),
    M("T9", "core/model/tiling.py", "return (side // multiple) * multiple", "return side",
      "patch not a multiple of the model's"),
    M("T10", "core/model/tiling.py", "if side < multiple:", "if side <= multiple:", "an image of exactly one multiple refused"),
    M("T11", "core/model/tiling.py", "w = self.weights[(y == 0, y + p == self.height, x == 0, x + p == self.width)]",
      "w = self.weights[(x == 0, x + p == self.width, y == 0, y + p == self.height)]",
      "blending edges of rows and columns swapped"),
    M("T12", "core/model/tiling.py", "out[:, y:y + rows] = acc / np.maximum(wsum, 1e-12)", "out[:, y:y + rows] = acc",
      "blend not normalised"),
    M("T13", "core/model/tiling.py", "if not 0 <= overlap < patch:", "if not 0 <= overlap <= patch:",
      "overlap as large as the patch accepted"),
    M("T14", "core/model/tiling.py", "if patch > length:", "if patch >= length:", "a patch as large as the image refused"),
    M("T15", "core/model/tiling.py", "key=lambda p: (cost(p), p != requested)", "key=lambda p: (-cost(p), p != requested)",
      "the patch size that computes the most pixels"),
    M("T16", "core/model/tiling.py", "if p >= 2 * overlap]", "]", "a fitted patch may shrink the overlap"),
    # -- morphology: core/masking/morphology.py ----------------------------------------------------------------------
    M("M1", "core/masking/morphology.py", "mask = _step(mask, diagonal=bool(i % 2))", "mask = _step(mask, diagonal=not i % 2)",
      "square step first: radius 1 grows 9 pixels, not 5"),
    M("M2", "core/masking/morphology.py", "out[:-1, :] |= mask[1:, :]", "out[:-1, :] |= mask[:-1, :]", "no growth upwards"),
    M("M3", "core/masking/morphology.py", "out[1:, :-1] |= mask[:-1, 1:]", "out[1:, :-1] |= mask[:-1, :-1]",
      "one diagonal missing"),
    M("M4", "core/masking/morphology.py", "for i in range(radius):", "for i in range(radius - 1):", "radius one too small"),
    M("M5", "core/masking/morphology.py", "BUFFER_PRIORITY = (1, 2, 3)", "BUFFER_PRIORITY = (3, 2, 1)",
      "shadow claims contested pixels first"),
    M("M6", "core/masking/morphology.py", "out[(out == 0) & grown] = cls", "out[grown] = cls",
      "buffer overwrites other classes and no data"),
    M("M7", "core/masking/morphology.py", "grown = dilate(classes == cls, radius)", "grown = dilate(out == cls, radius)",
      "dilation of the partly buffered classes"),
    M("M8", "core/masking/morphology.py", "if radius <= 0:", "if radius < 0:", "radius 0 copies"),
    M("M9", "core/masking/morphology.py", "out[:, 1:] |= mask[:, :-1]", "out[:, 1:] &= mask[:, :-1]",
      "no growth to the right"),
    # -- metrics: core/evaluation/metrics.py, core/evaluation/masks.py, core/evaluation/recon_metrics.py --------------------------------
    M("X1", "core/evaluation/metrics.py", "pa = tp / (tp + fn)", "pa = tp / (tp + fp)", "producer's accuracy divides by the mask"),
    M("X2", "core/evaluation/metrics.py", "ua = tp / (tp + fp)", "ua = tp / (tp + fn)",
      "user's accuracy divides by the reference"),
    M("X3", "core/evaluation/metrics.py", "spec = tn / (tn + fp)", "spec = tn / (tn + fn)", "specificity from the wrong column"),
    M("X4", "core/evaluation/metrics.py", '"balanced_accuracy": (pa + spec) / 2', '"balanced_accuracy": (pa + ua) / 2',
      "balanced accuracy of PA and UA"),
    M("X5", "core/evaluation/metrics.py", "f1 = 2 * tp / (2 * tp + fp + fn)", "f1 = 2 * tp / (tp + fp + fn)", "F1 = 2 IoU"),
    M("X6", "core/evaluation/metrics.py", "iou = tp / (tp + fp + fn)", "iou = tp / (tp + fp + fn + tn)", "IoU over every pixel"),
    M("X7", "core/evaluation/metrics.py", '"reference_pixels": int(tp + fn)', '"reference_pixels": int(tp + fp)',
      "reference pixels counted in the mask"),
    M("X8", "core/evaluation/metrics.py", "np.sum(pred & ~ref), np.sum(~pred & ref)", "np.sum(~pred & ref), np.sum(pred & ~ref)",
      "binary counts: fp and fn swapped"),
    M("X9", "core/evaluation/metrics.py", "pa = tp / (tp + fn) if tp + fn else nan", "pa = tp / (tp + fn) if tp + fn else 0.0",
      "an absent class scores 0, not NaN"),
    M("E1", "core/evaluation/masks.py", '"cloud": ((1, 2), (1, 2, ANY_CLOUD)),', '"cloud": ((1, 2), (1, 2)),',
      "cloud of unknown thickness not counted as cloud"),
    M("E2", "core/evaluation/masks.py", '"ukis": {0: 3, 1: 0, 2: 0, 3: 0, 4: ANY_CLOUD},',
      '"ukis": {0: 0, 1: 0, 2: 0, 3: 3, 4: ANY_CLOUD},', "ukis-csmask's shadow and land swapped"),
    M("E3", "core/evaluation/masks.py", "c = np.array([np.sum(p & r), np.sum(p & ~r), np.sum(~p & r), np.sum(~p & ~r)]",
      "c = np.array([np.sum(p & r), np.sum(~p & r), np.sum(p & ~r), np.sum(~p & ~r)]",
      "false positives and false negatives swapped"),
    M("E4", "core/evaluation/masks.py", "valid = (ref != NODATA_CLASS) & (mask != NODATA_CLASS)", "valid = ref != NODATA_CLASS",
      "mask no-data scored"),
    M("E5", "core/evaluation/masks.py", "if {1, 2} <= coded and ANY_CLOUD not in coded:", "if {1, 2} <= coded:",
      "thick/thin scored against a reference that also has unknown cloud"),
    M("E6", "core/evaluation/masks.py", "self.counts[group] = self.counts.get(group, np.zeros(4, np.int64)) + c",
      "self.counts[group] = c", "scenes not pooled"),
    M("E7", "core/evaluation/masks.py", "8: 1, 9: 1, 10: 2, 11: 0}", "8: 1, 9: 1, 10: 1, 11: 0}", "SCL cirrus as thick cloud"),
    M("E8", "core/evaluation/masks.py", '"shadow_binary": {0: NOT_SHADOW, 1: 3},', '"shadow_binary": {0: 0, 1: 3},',
      "binary shadow references' 0 taken as clear"),
    M("E9", "core/evaluation/masks.py", "{s['producers_accuracy']:6.3f} {s['users_accuracy']:6.3f}",
      "{s['users_accuracy']:6.3f} {s['producers_accuracy']:6.3f}", "table columns PA and UA swapped"),
    M("E10", "core/evaluation/masks.py", 'keys = ["producers_accuracy", "users_accuracy",',
      'keys = ["users_accuracy", "producers_accuracy",', "score file columns PA and UA swapped"),
    M("E11", "core/evaluation/masks.py", "if not m or int(m.group(2)) > NOT_SHADOW:", "if not m or int(m.group(2)) > ANY_CLOUD:",
      "classes 5 and 6 refused in written schemes"),
    M("E12", "core/evaluation/masks.py", "reference[reference < 0] = NODATA_CLASS", "reference[reference < 0] = 0",
      "negative reference values scored as class 0"),
    M("R1", "core/evaluation/recon_metrics.py", "np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean()",
      "np.arccos(np.clip(cos, -1.0, 1.0)).mean()", "SAM in radians"),
    M("R2", "core/evaluation/recon_metrics.py", "np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean()",
      "np.degrees(np.arccos(np.clip(cos.mean(), -1.0, 1.0)))", "SAM of the mean cosine"),
    M("R3", "core/evaluation/recon_metrics.py", '"psnr": float(20 * np.log10(PEAK / max(rmse, 1e-12))),',
      '"psnr": float(10 * np.log10(PEAK / max(rmse, 1e-12))),', "band PSNR with 10 log10", nth=0),
    M("R4", "core/evaluation/recon_metrics.py", '"psnr": float(20 * np.log10(PEAK / max(rmse, 1e-12))),',
      '"psnr": float(10 * np.log10(PEAK / max(rmse, 1e-12))),', "overall PSNR with 10 log10", nth=1),
    M("R5", "core/evaluation/recon_metrics.py", 'out[band] = {"mae": float(np.mean(np.abs(d))), "rmse": rmse,',
      'out[band] = {"mae": float(np.mean(d)), "rmse": rmse,', "band MAE of signed errors"),
    M("R6", "core/evaluation/recon_metrics.py", 'out["overall"] = {"mae": float(np.mean(np.abs(d))), "rmse": rmse,',
      'out["overall"] = {"mae": float(np.mean(d)), "rmse": rmse,', "overall MAE of signed errors"),
    M("R7", "core/evaluation/recon_metrics.py", "_SSIM_C1 = (0.01 * PEAK) ** 2", "_SSIM_C1 = (0.03 * PEAK) ** 2", "SSIM C1 = C2"),
    M("R8", "core/evaluation/recon_metrics.py", "_SSIM_C2 = (0.03 * PEAK) ** 2", "_SSIM_C2 = (0.01 * PEAK) ** 2", "SSIM C2 = C1"),
    M("R9", "core/evaluation/recon_metrics.py", "cov = box_mean(x * y, radius) - mx * my", "cov = box_mean(x * y, radius) + mx * my",
      "covariance sign"),
    M("R10", "core/reconstruction/box_filter.py", 'mode="reflect"', 'mode="symmetric"', "box mean repeats the edge pixel"),
    M("R11", "core/reconstruction/box_filter.py", "k = 2 * radius + 1", "k = 2 * radius", "box one pixel short"),
    M("R12", "core/evaluation/recon_metrics.py", '"pixels": int(m.sum())}', '"pixels": int(m.size)}',
      "pixels counted over the whole raster"),
    M("R13", "core/evaluation/recon_metrics.py", '"ssim": float(ssim_map(estimate[i], truth[i])[m].mean())}',
      '"ssim": float(ssim_map(estimate[i], truth[i]).mean())}', "SSIM over the whole band"),
    M("R14", "core/evaluation/recon_metrics.py", "    rmse = float(np.sqrt(np.mean(d * d)))\n    e, t",
      "    rmse = float(np.sqrt(np.sum(d * d)))\n    e, t", "overall RMSE of the sum"),
    # -- outputs: core/io/outputs.py ----------------------------------------------------------------------------
    M("U1", "core/io/outputs.py", "return StripWriter(self.temp_path(final), grid, count, dtype, nodata, descriptions)",
      "return StripWriter(final, grid, count, dtype, nodata, descriptions)",
      "output written straight to its final path"),
    M("U2", "core/io/outputs.py", "                cog = self.temp_path(final)\n", "                cog = final\n",
      "COG written straight to its final path"),
    M("U3", "core/io/outputs.py", "            elif backup is None:\n                final.unlink(missing_ok=True)",
      "            elif backup is None:\n                pass",
      "committed files left behind after a failed commit"),
    M("U4", "core/io/outputs.py", "for final, backup in reversed(self.placed):", "for final, backup in self.placed:",
      "rollback in commit order"),
    M("U5", "core/io/outputs.py", "                self.placed.append((final, backup))\n                os.replace(tmp, final)",
      "                os.replace(tmp, final)\n                self.placed.append((final, backup))",
      "a rename that fails is not rolled back (its backup is lost)"),
    M("U6", "core/io/outputs.py", "                if final.exists():\n                    backup", "                if final.is_dir():\n"
      "                    backup", "no backup of an existing output"),
    M("U7", "core/io/outputs.py", "if m and int(m.group(1)) != os.getpid() and not pid_alive(m.group(1)):",
      "if m and int(m.group(1)) != os.getpid() and pid_alive(m.group(1)):",
      "temporaries of live runs removed, dead ones kept"),
    M("U8", "core/io/outputs.py", 'tmp = final.parent / f".{final.stem}{TEMP_TAG}',
      'tmp = final.parent / f"{final.stem}{TEMP_TAG}', "temporaries not hidden"),
    M("U9", "core/io/outputs.py", "        except OSError as exc:\n            self.rollback()\n",
      "        except OSError as exc:\n            pass\n", "commit does not roll back itself"),
    M("U10", "core/io/outputs.py", "                verify_raster(cog)\n", "                pass\n",
      "COGs committed unread"),
    M("U11", "core/io/outputs.py", "        if exc_type is not None:\n            self.rollback()",
      "        if exc_type is not None:\n            pass", "a failure after the commit keeps the new outputs"),
]

TESTS: Dict[str, List[str]] = {  # module -> test files that exercise it (new oracle tests first: they are fast)
    "core/io/dn.py": ["test/core/io/test_oracle_scaling.py", "test/core/io/test_oracle_l1c_offset.py",
                   "test/core/io/test_dn_dates.py", "test/core/reconstruction/test_reconstruct.py", "test/core/reconstruction/test_composite.py",
                   "test/core/reconstruction/test_gapfill_rasters.py"],
    "core/io/safe.py": ["test/core/io/test_oracle_l1c_offset.py", "test/core/io/test_safe_metadata.py",
                     "test/core/io/test_safe_reading.py"],
    "core/io/sources.py": ["test/core/io/test_oracle_scaling.py", "test/core/io/test_oracle_l1c_offset.py",
                        "test/core/masking/test_oracle_golden.py", "test/core/io/test_input_checks.py",
                        "test/core/io/test_safe_reading.py", "test/core/masking/test_masking.py"],
    "core/io/bands.py": ["test/core/io/test_oracle_bands.py", "test/core/io/test_oracle_l1c_offset.py",
                      "test/core/masking/test_oracle_golden.py", "test/core/model/test_model_choice.py",
                      "test/core/io/test_input_checks.py", "test/core/io/test_safe_metadata.py", "test/core/masking/test_masking.py",
                      "test/core/model/test_engines.py"],
    "core/masking/class_raster.py": ["test/core/masking/test_oracle_decision.py", "test/core/masking/test_oracle_golden.py",
                             "test/core/masking/test_decision.py", "test/core/evaluation/test_evaluation.py",
                             "test/core/masking/test_masking.py"],
    "core/model/tiling.py": ["test/core/model/test_oracle_tiling.py", "test/core/masking/test_oracle_golden.py",
                       "test/core/model/test_tiling.py", "test/core/masking/test_masking.py"],
    "core/masking/morphology.py": ["test/core/masking/test_oracle_morphology.py", "test/core/masking/test_oracle_golden.py",
                           "test/core/masking/test_scl_and_buffer.py", "test/core/masking/test_shadow_geometry.py"],
    "core/evaluation/metrics.py": ["test/core/evaluation/test_oracle_scores.py", "test/core/masking/test_oracle_golden.py",
                        "test/core/evaluation/test_evaluation.py", "test/core/training/test_leave_one_dataset_out.py"],
    "core/evaluation/masks.py": ["test/core/evaluation/test_oracle_scores.py", "test/core/masking/test_oracle_golden.py",
                           "test/core/evaluation/test_evaluation.py", "test/core/training/test_leave_one_dataset_out.py"],
    "core/evaluation/recon_metrics.py": ["test/core/evaluation/test_oracle_recon_metrics.py", "test/core/evaluation/test_recon_metrics.py",
                              "test/core/evaluation/test_recon_evaluation.py"],
    "core/reconstruction/box_filter.py": ["test/core/evaluation/test_oracle_recon_metrics.py", "test/core/evaluation/test_recon_metrics.py",
                                          "test/core/evaluation/test_recon_evaluation.py", "test/core/reconstruction/test_gapfill.py"],
    "core/io/outputs.py": ["test/core/io/test_oracle_outputs.py", "test/reliability/test_atomic_outputs.py",
                        "test/core/masking/test_masking.py"],
}

#: survivors that no test can kill, or that are left alive on purpose, and why
EXPLAINED: Dict[str, str] = {
    "M7": "equivalent: a class's pixels in `out` change only when that class is buffered, so when it is dilated "
          "`out == cls` equals `classes == cls`",
    "U9": "equivalent under the documented use: every OutputSet is a context manager (core/masking, scl, "
          "reconstruct, gapfill_rasters, composite), whose __exit__ rolls back when commit raises",
    "O6": "left alive on purpose: whether a product pixel with 0 (NODATA) in some bands only is no data is not "
          "decided; SafeSource.read says valid (0 + offset, i.e. -0.1 at baseline 04.00+) while DnCodec.valid says "
          "no data. Pinning either would freeze an open question",
}


# ------------------------------------------------------------------------------------------------------------
def mutate(text: str, m: Mutant) -> str:
    count = text.count(m.old)
    if m.nth is None and count != 1:
        raise ValueError(f"{m.id}: the text to mutate occurs {count} times in {m.path} (expected once); "
                         "the source changed: update the mutant")
    if m.nth is not None and count <= m.nth:
        raise ValueError(f"{m.id}: occurrence {m.nth} of the text to mutate not found in {m.path}")
    start = -1
    for _ in range((m.nth or 0) + 1):
        start = text.index(m.old, start + 1)
    out = text[:start] + m.new + text[start + len(m.old):]
    compile(out, m.path, "exec")
    return out


def failures(pytest_output: str) -> List[str]:
    """Node ids of the failed and erroring tests in pytest's short summary."""
    return [line.split(" ", 1)[1].split(" - ")[0].strip() for line in pytest_output.splitlines()
            if line.startswith(("FAILED ", "ERROR "))]


class Sandbox:
    """A copy of the repository, importable as `cloudfree`, with ../shared reachable as beside the original."""

    def __init__(self, before: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="cloudfree-mutation-"))
        self.repo = self.dir / "main"
        shutil.copytree(ROOT, self.repo, symlinks=True, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "out", "__pycache__", "*.pyc", ".pytest_cache", "dist"))
        (self.dir / "plugins").mkdir()
        (self.dir / "plugins" / "cloudfree").symlink_to(self.repo)
        (self.dir / "shared").symlink_to(ROOT.parent / "shared")
        if before:
            for f in self.repo.glob(NEW_TESTS):
                f.unlink()
            shutil.rmtree(self.repo / "test" / "fixtures", ignore_errors=True)
        self.env = dict(os.environ, PYTHONPATH=str(self.dir / "plugins"), PYTHONDONTWRITEBYTECODE="1",
                        QT_QPA_PLATFORM="offscreen", GDAL_PAM_ENABLED="NO")
        self.env.setdefault("OMP_NUM_THREADS", "1")
        found = subprocess.run([sys.executable, "-c", "import cloudfree.core.io.dn as m; print(m.__file__)"],
                               cwd=self.repo, env=self.env, capture_output=True, text=True)
        if not found.stdout.strip().startswith(str(self.dir)):
            raise RuntimeError(f"the sandbox's package is not the one imported: {found.stdout}{found.stderr}")

    def tests(self, module: str) -> List[str]:
        return [t for t in TESTS[module] if (self.repo / t).is_file()]

    def pytest(self, tests: List[str], timeout: float, verbose: bool, deselect: List[str] = (),
               first_failure: bool = True) -> tuple:
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:pytest_qgis", "--no-header", "-W",
               "ignore::pytest.PytestConfigWarning"] + (["-x"] if first_failure else [])
        cmd += [f"--deselect={node}" for node in deselect] + tests
        started = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=self.repo, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=timeout)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            rc = None
        if verbose:
            print(out[-3000:])
        return rc, out, time.monotonic() - started

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run(mutants: List[Mutant], before: bool, verbose: bool) -> List[dict]:
    sandbox = Sandbox(before)
    results = []
    try:
        baseline: Dict[str, float] = {}
        broken: Dict[str, List[str]] = {}   # tests that fail without a mutant (a tree in the middle of a change)
        for module in sorted({m.path for m in mutants}):
            tests = sandbox.tests(module)
            rc, out, seconds = sandbox.pytest(tests, 1800, verbose=False, first_failure=False)
            broken[module] = failures(out)
            if rc != 0 and (not broken[module] or
                            sandbox.pytest(tests, 1800, False, broken[module], first_failure=False)[0] != 0):
                raise RuntimeError(f"the tests of {module} fail without any mutant:\n{out[-3000:]}")
            baseline[module] = seconds
            print(f"baseline {module}: {len(tests)} test files pass in {seconds:.0f} s"
                  + (f"; left out, failing without a mutant: {', '.join(broken[module])}" if broken[module] else ""),
                  flush=True)
        for m in mutants:
            target = sandbox.repo / m.path
            original = target.read_text(encoding="utf-8")
            try:
                target.write_text(mutate(original, m), encoding="utf-8")
                rc, out, seconds = sandbox.pytest(sandbox.tests(m.path), 3 * baseline[m.path] + 60, verbose,
                                                  broken[m.path])
            finally:
                target.write_text(original, encoding="utf-8")
            status = "timeout (killed)" if rc is None else "survived" if rc == 0 else "killed"
            failed = failures(out)
            results.append({"id": m.id, "module": m.path, "what": m.what, "status": status,
                            "killed_by": failed[:1], "seconds": round(seconds, 1), "left_out": broken[m.path]})
            print(f"{m.id:>4} {status:<16} {seconds:5.1f} s  {m.path}: {m.what}"
                  + (f"  <- {failed[0]}" if failed else ""), flush=True)
    finally:
        sandbox.close()
    return results


def report(results: List[dict]) -> None:
    print("\nmodule                     killed / total")
    modules = sorted({r["module"] for r in results})
    for module in modules:
        rs = [r for r in results if r["module"] == module]
        print(f"{module:<26} {sum(r['status'] != 'survived' for r in rs):>6} / {len(rs)}")
    killed = sum(r["status"] != "survived" for r in results)
    print(f"{'all':<26} {killed:>6} / {len(results)}   score {100 * killed / max(1, len(results)):.0f} %")
    survivors = [r for r in results if r["status"] == "survived"]
    if survivors:
        print("\nsurvivors:")
        for r in survivors:
            print(f"  {r['id']:>4} {r['module']}: {r['what']}\n       {EXPLAINED.get(r['id'], 'NOT EXPLAINED')}")


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", action="store_true", help="run without the oracle tests (test_oracle_*.py)")
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--module", help="only the mutants of this file (e.g. core/masking/morphology.py)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the tests' output for each mutant")
    args = ap.parse_args(argv)
    mutants = MUTANTS
    if args.only:
        wanted = {s.strip() for s in args.only.split(",")}
        mutants = [m for m in mutants if m.id in wanted]
    if args.module:
        mutants = [m for m in mutants if m.path == args.module]
    for m in mutants:  # every mutant must still apply to the current source
        mutate((ROOT / m.path).read_text(encoding="utf-8"), m)
    if args.list:
        for m in mutants:
            print(f"{m.id:>4} {m.path}: {m.what}")
        return 0
    results = run(mutants, args.before, args.verbose)
    report(results)
    write_json(args.json, {"before": args.before, "results": results}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

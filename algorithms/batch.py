"""Masks every Sentinel-2 product of a folder, scene by scene, with a summary table; resumes where it stopped."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from qgis.core import (QgsProcessingException, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterBoolean, QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination, QgsProcessingParameterString)

from ..core.api import DEFAULT_MASK_RESOLUTION_M
from .common import CloudFreeAlgorithm
from .feedback import QgisFeedback


class BatchAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Batch", "batch")
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    CONFIDENCE = "CONFIDENCE"
    RECONSTRUCT = "RECONSTRUCT"
    DASK_SCHEDULER = "DASK_SCHEDULER"
    SUMMARY = "SUMMARY"
    DONE = "DONE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    STYLES: Dict[str, Path] = {}  # nothing is loaded into the project: a batch may hold hundreds of scenes

    def name(self) -> str:
        return "batch"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Mask a folder of Sentinel-2 products")

    def help_text(self) -> str:
        return self.tr(
            "Masks clouds and cloud shadows in every Sentinel-2 product of a folder, one scene after the other, "
            "with the best bundled U-Net for the product's bands, and writes, per scene, a mask (optionally also "
            "its class confidence and a reconstruction) into the output folder and a summary table of all "
            "scenes.\n\n"
            "Resuming: a scene whose record <scene>.done.json and outputs are already in the output folder is "
            "skipped, so running the algorithm again on the same folders continues a stopped or cancelled "
            "batch. A record keeps the options it was made with (model, resolution, buffer, outputs); a run "
            "with other options does the scene again.\n\n"
            "Failures: a scene that cannot be processed (e.g. a damaged product) is listed as failed in the "
            "summary, with the reason, and leaves no partial output; the batch goes on with the next scene.\n\n"
            "The per-scene rasters are not loaded into the project (a batch may hold hundreds); open them from "
            "the output folder. The log has one line per scene with its cloud and shadow cover.\n\n"
            "Outputs: the output folder; the summary table (summary.csv: scene, date, tile, cloud and shadow "
            "cover in % of valid pixels, seconds, status, output paths, worker, error); the number of scenes "
            "done in this run, failed, and skipped because they were done before.\n\n"
            "Reference: the CloudFree README, section 'Many scenes: batch runs and Dask'.")

    PARAMETER_HELP = {
        CloudFreeAlgorithm.INPUT: "A folder holding .SAFE product folders and/or their .zip files (L1C or L2A); each "
                                  "is one scene. Products in subfolders are not searched.",
        CloudFreeAlgorithm.RESOLUTION: "The pixel size of the masks, on each product's grid: 10 m (the default) gives "
                                       "the best masks, 20 m is 4x faster; or 60 m.",
        CONFIDENCE: "Also write <scene>_confidence.tif, the probability (0-100 %) of each class, one band per class.",
        RECONSTRUCT: "Also reconstruct each scene under its clouds (all bands, filled by the inpainting U-Net from the "
                     "scene itself) into <scene>_reconstructed.tif; much slower than masking. A scene with no cloud "
                     "or no clear pixel gets no reconstruction; the summary says why.",
        DASK_SCHEDULER: "The address of a Dask distributed scheduler (e.g. tcp://host:8786) to hand the scenes to; its "
                        "workers must see the input and output folders under the same paths. Empty: every scene runs "
                        "here, in QGIS.",
        OUTPUT_FOLDER: "Receives, per scene, <scene>_mask.tif (0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow, "
                       "255 no data, in the product's CRS and grid at the chosen resolution, with a .qml style beside "
                       "it), optionally <scene>_confidence.tif and <scene>_reconstructed.tif, a small record "
                       "<scene>.done.json, and for the whole batch summary.csv and summary.json. Its parent folder "
                       "must exist.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterFile(
            self.INPUT, self.tr("Folder of .SAFE products or .zip files"),
            behavior=QgsProcessingParameterFile.Folder))
        self.add_resolution_parameter(DEFAULT_MASK_RESOLUTION_M)
        self.add_buffer_parameter()
        self.addParameter(QgsProcessingParameterBoolean(
            self.CONFIDENCE, self.tr("Also write the class confidence (%) of each scene"), defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RECONSTRUCT, self.tr("Also reconstruct each scene under its clouds"), defaultValue=False))
        self.addParameter(QgsProcessingParameterString(
            self.DASK_SCHEDULER, self.tr("Dask scheduler (tcp://host:8786; empty: run here)"), optional=True))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile(self.SUMMARY, self.tr("Summary table (summary.csv)")))
        self.addOutput(QgsProcessingOutputNumber(self.DONE, self.tr("Scenes done")))
        self.addOutput(QgsProcessingOutputNumber(self.FAILED, self.tr("Scenes failed")))
        self.addOutput(QgsProcessingOutputNumber(self.SKIPPED, self.tr("Scenes skipped (done before)")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        from ..core.api import CANCELLED, DONE, DONE_BEFORE, FAILED, BatchOptions, run_batch  # deferred

        folder = self.parameterAsFile(parameters, self.INPUT, context).strip()
        if not folder:
            raise QgsProcessingException(self.tr("Give the folder of Sentinel-2 products (.SAFE folders or .zip "
                                                 "files)."))
        out_dir = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context).strip()
        if not out_dir:
            raise QgsProcessingException(self.tr("Give an output folder."))
        options = BatchOptions(resolution_m=self.resolution_m(parameters, context),
                               buffer_px=self.parameterAsInt(parameters, self.BUFFER, context),
                               confidence=self.parameterAsBool(parameters, self.CONFIDENCE, context),
                               reconstruct=self.parameterAsBool(parameters, self.RECONSTRUCT, context))
        scheduler = self.parameterAsString(parameters, self.DASK_SCHEDULER, context).strip() or None
        result = run_batch(folder, out_dir, options, scheduler=scheduler, feedback=QgisFeedback(feedback))
        for row in result.rows:
            if row["status"] in (DONE, DONE_BEFORE):
                feedback.pushInfo(self._scene_line(row))
            else:
                feedback.reportError(self.tr("{}: {}: {}").format(row["scene"], row["status"], row.get("error", "")),
                                     fatalError=False)
        counts = result.counts
        feedback.pushInfo(self.tr("{} scene(s) done, {} skipped (done before), {} failed, {} cancelled in {:.1f} s; "
                                  "summary: {}").format(counts.get(DONE, 0), counts.get(DONE_BEFORE, 0),
                                                        counts.get(FAILED, 0), counts.get(CANCELLED, 0),
                                                        result.seconds, result.summary_csv))
        if counts.get(CANCELLED):
            feedback.pushInfo(self.tr("Run the algorithm again with the same folders to process the remaining "
                                      "scenes."))
        return {self.OUTPUT_FOLDER: str(Path(out_dir)), self.SUMMARY: str(result.summary_csv),
                self.DONE: counts.get(DONE, 0), self.FAILED: counts.get(FAILED, 0),
                self.SKIPPED: counts.get(DONE_BEFORE, 0)}

    def _scene_line(self, row: Dict) -> str:
        def percent(value) -> str:
            try:
                return f"{float(value):.2f} %"
            except (TypeError, ValueError):
                return "?"

        line = self.tr("{}: {}, cloud {}, shadow {} of valid pixels").format(
            row["scene"], row["status"], percent(row.get("cloud_percent")), percent(row.get("shadow_percent")))
        reconstruction = row.get("reconstruction") or ""
        if reconstruction and not reconstruction.endswith(".tif"):
            line += f" ({reconstruction})"  # why there is no reconstruction
        return line


__all__ = ["BatchAlgorithm"]

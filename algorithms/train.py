"""Trains (or fine-tunes) a CloudFree U-Net on the analyst's own labelled scenes."""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import List, Optional

from qgis.core import (QgsProcessing, QgsProcessingException, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterEnum, QgsProcessingParameterFileDestination,
                       QgsProcessingParameterMultipleLayers, QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..core.api import BUNDLED_MODELS, BAND_SETS as TRAINING_BAND_SETS
from .common import CloudFreeAlgorithm, layer_file
from .feedback import QgisFeedback

#: BASE_MODEL options after "None": the bundled models, in this order.
BASE_MODELS = list(BUNDLED_MODELS)
#: BANDS options: (label, bands), used when no base model is given.
BAND_SETS = list(TRAINING_BAND_SETS.values())
DEVICES = ["auto", "cpu", "cuda"]
#: Share of the progress bar spent reading scenes; training takes the rest.
READING_SHARE = 10.0


class _ScaledFeedback(QgisFeedback):
    """The engine's 0-100 % mapped onto a part of the Processing progress bar."""

    def __init__(self, feedback, start: float, end: float) -> None:
        super().__init__(feedback)
        self.start, self.end = start, end

    def set_progress(self, percent: float) -> None:
        self.feedback.setProgress(self.start + (self.end - self.start) * float(percent) / 100.0)


class TrainAlgorithm(CloudFreeAlgorithm):
    GROUP = ("Training and evaluation", "training")
    L2A_PRODUCTS = "L2A_PRODUCTS"
    IMAGES = "IMAGES"
    LABELS = "LABELS"
    LABEL_CLASSES = "LABEL_CLASSES"
    BASE_MODEL = "BASE_MODEL"
    BANDS = "BANDS"
    EPOCHS = "EPOCHS"
    STEPS_PER_EPOCH = "STEPS_PER_EPOCH"
    SEED = "SEED"
    DEVICE = "DEVICE"
    OUTPUT_MODEL = "OUTPUT_MODEL"
    OUTPUT_MODEL_FP16 = "OUTPUT_MODEL_FP16"
    VALIDATION_LOSS = "VALIDATION_LOSS"
    VALIDATION_CLOUD_BA = "VALIDATION_CLOUD_BA"
    VALIDATION_SHADOW_BA = "VALIDATION_SHADOW_BA"
    EPOCHS_RUN = "EPOCHS_RUN"
    BEST_EPOCH = "BEST_EPOCH"

    STYLES = {}

    def name(self) -> str:
        return "train"

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return self.tr("Train or fine-tune the cloud mask model")

    def help_text(self) -> str:
        return self.tr(
            "Trains a CloudFree U-Net on your own labelled scenes, or fine-tunes a bundled model on them, and "
            "writes it as ONNX with its model card, ready for the 'Cloud and shadow mask (U-Net)' algorithm "
            "(give the .onnx file as its Model). Needs PyTorch and segmentation-models-pytorch.\n\n"
            "Training data, at least one of: Sentinel-2 L2A products, labelled by their own Scene Classification "
            "Layer (SCL); images with label rasters.\n\n"
            "Scenes are grouped by place (the tile of an L2A product, the file name of an image). With more "
            "than one place the last one is held out for validation, which picks the best epoch; with one place "
            "validation patches come from the training scenes. Training stops after Epochs epochs of Steps per "
            "epoch batches, or earlier when the validation loss stops improving.\n\n"
            "Outputs: the model (see Trained model) and its half-precision twin; the validation loss and the "
            "cloud and shadow balanced accuracies of the best epoch (NaN when the validation patches hold no "
            "shadow or cloud).\n\n"
            "Reference: U-Net, Ronneberger et al. (2015), 'U-Net: Convolutional Networks for Biomedical Image "
            "Segmentation', MICCAI; the training procedure is described in the CloudFree README ('How it "
            "works') and models/README.md.")

    PARAMETER_HELP = {
        L2A_PRODUCTS: "Sentinel-2 L2A products (.SAFE folders, .zip or MTD_MSIL2A.xml): their bands, labelled by their "
                      "own Scene Classification Layer (SCL).",
        IMAGES: "Images with Sentinel-2 bands, each labelled by the label raster at the same place in Label rasters.",
        LABELS: "One label raster per image, in the same order; it may be on another grid: it is resampled (nearest) "
                "onto the image's.",
        LABEL_CLASSES: "How the label rasters are coded: 'cloudfree' (0 clear, 1 thick cloud, 2 thin cloud, 3 shadow) "
                       "or 'value=class' pairs with classes 0 to 3, e.g. '1=0, 2=1, 3=3'; unlisted values are not "
                       "trained on.",
        CloudFreeAlgorithm.BAND_MAPPING: "Which band of the images is which, e.g. 'B02=1, B03=2, B04=3, B08=4'; empty: "
                                         "guessed from the band count.",
        BASE_MODEL: "'None' trains from scratch on the band set chosen under Bands; a bundled model is fine-tuned, and "
                    "its bands are used (Bands is then ignored). Every input must have those bands.",
        BANDS: "The band set a model trained from scratch uses; ignored when a base model is fine-tuned. Every input "
               "must have those bands.",
        CloudFreeAlgorithm.RESOLUTION: "The pixel size (10, 20 or 60 m) the scenes are read and the model is trained "
                                       "at.",
        EPOCHS: "The most epochs to train; training stops earlier when the validation loss stops improving.",
        STEPS_PER_EPOCH: "The number of training batches (steps) in one epoch.",
        SEED: "Fixes the patch sampling and the initial weights, so a run can be repeated.",
        DEVICE: "auto: CUDA when PyTorch sees a GPU, else CPU; cpu; cuda.",
        OUTPUT_MODEL: "The .onnx file to write (.onnx is added when the name lacks it): the model in fp32, for CPU; "
                      "beside it a half-precision twin (_fp16.onnx, for GPU), each with its .json card, and the "
                      "PyTorch weights (.pt) that later fine-tuning starts from. If the run fails or is cancelled no "
                      "model file is written and an existing model of the same name is left untouched.",
    }

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.L2A_PRODUCTS, self.tr("Sentinel-2 L2A products labelled by their SCL (.SAFE folders, .zip or "
                                       "MTD_MSIL2A.xml)"), layerType=QgsProcessing.TypeFile, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.IMAGES, self.tr("Images (Sentinel-2 bands)"), layerType=QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.LABELS, self.tr("Label rasters (one per image, in the same order)"),
            layerType=QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.LABEL_CLASSES, self.tr("Label classes ('cloudfree' or value=class pairs, classes 0-3)"),
            defaultValue="cloudfree"))
        self.addParameter(QgsProcessingParameterString(
            self.BAND_MAPPING, self.tr("Band mapping of the images, e.g. B02=1, B03=2, B04=3, B08=4 "
                                       "(empty: from the band count)"), optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.BASE_MODEL, self.tr("Base model to fine-tune"),
            options=[self.tr("None (train from scratch)")] + BASE_MODELS, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(
            self.BANDS, self.tr("Bands (without a base model)"), options=[self.tr(label) for label, _ in BAND_SETS],
            defaultValue=0))
        self.add_resolution_parameter()
        self.addParameter(QgsProcessingParameterNumber(
            self.EPOCHS, self.tr("Epochs (at most)"), type=QgsProcessingParameterNumber.Integer,
            defaultValue=10, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.STEPS_PER_EPOCH, self.tr("Steps (batches) per epoch"), type=QgsProcessingParameterNumber.Integer,
            defaultValue=100, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed"), type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=DEVICES, defaultValue=0))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_MODEL, self.tr("Trained model"), fileFilter="ONNX model (*.onnx)"))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_MODEL_FP16, self.tr("Trained model, half precision")))
        self.addOutput(QgsProcessingOutputNumber(self.VALIDATION_LOSS, self.tr("Validation loss (best epoch)")))
        self.addOutput(QgsProcessingOutputNumber(
            self.VALIDATION_CLOUD_BA, self.tr("Validation cloud balanced accuracy (best epoch)")))
        self.addOutput(QgsProcessingOutputNumber(
            self.VALIDATION_SHADOW_BA, self.tr("Validation shadow balanced accuracy (best epoch)")))
        self.addOutput(QgsProcessingOutputNumber(self.EPOCHS_RUN, self.tr("Epochs run")))
        self.addOutput(QgsProcessingOutputNumber(self.BEST_EPOCH, self.tr("Best epoch")))

    # Reading parameters -------------------------------------------------

    def _sources(self, parameters, context):
        products = [p.strip() for p in self.parameterAsFileList(parameters, self.L2A_PRODUCTS, context) if p.strip()]
        images = self.parameterAsLayerList(parameters, self.IMAGES, context)
        labels = self.parameterAsLayerList(parameters, self.LABELS, context)
        if len(images) != len(labels):
            raise QgsProcessingException(self.tr(
                "Give one label raster per image, in the same order: {} images but {} label rasters.")
                .format(len(images), len(labels)))
        if not products and not images:
            raise QgsProcessingException(self.tr(
                "No training data: give Sentinel-2 L2A products (labelled by their SCL) or images with their "
                "label rasters, or both."))
        pairs = [(layer_file(i, self.tr("image")), layer_file(lbl, self.tr("label"))) for i, lbl in zip(images, labels)]
        return products, pairs

    def _output_path(self, parameters, context) -> Path:
        text = self.parameterAsFileOutput(parameters, self.OUTPUT_MODEL, context).strip()
        if not text:
            raise QgsProcessingException(self.tr("Give a file for the trained model (.onnx)."))
        path = Path(text)
        if path.suffix.lower() != ".onnx":
            path = path.with_name(path.name + ".onnx")
        return path

    # Running ------------------------------------------------------------

    def _read_scenes(self, products: List[str], pairs, resolution_m: int, label_classes: str,
                     band_mapping: Optional[str], feedback):
        from ..core.api import scene_from_label_raster, scene_from_scl

        scenes, total = [], len(products) + len(pairs)
        for product in products:
            if feedback.isCanceled():
                return None
            feedback.pushInfo(self.tr("Reading {} with its SCL labels").format(Path(product).name))
            scenes.append(scene_from_scl(product, resolution_m))
            feedback.setProgress(READING_SHARE * len(scenes) / total)
        for image, labels in pairs:
            if feedback.isCanceled():
                return None
            feedback.pushInfo(self.tr("Reading {} labelled by {}").format(Path(image).name, Path(labels).name))
            scenes.append(scene_from_label_raster(image, labels, resolution_m, label_classes or "cloudfree",
                                                  band_mapping=band_mapping))
            feedback.setProgress(READING_SHARE * len(scenes) / total)
        return scenes

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        missing = [m for m in ("torch", "segmentation_models_pytorch", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            raise QgsProcessingException(self.tr(
                "Training needs the Python packages {}; install them into the Python that QGIS runs "
                "(e.g. pip install torch segmentation-models-pytorch onnx) and restart QGIS.")
                .format(", ".join(missing)))
        from ..core.errors import Cancelled
        from ..core.api import load_card, train_model, TrainConfig, save_scenes

        products, pairs = self._sources(parameters, context)
        output = self._output_path(parameters, context)
        name = output.stem
        resolution_m = self.resolution_m(parameters, context)
        base_index = self.parameterAsEnum(parameters, self.BASE_MODEL, context)
        base_model = BASE_MODELS[base_index - 1] if base_index > 0 else None
        if base_model:
            bands = list(load_card(base_model).bands)
            feedback.pushInfo(self.tr("Fine-tuning {} on its bands {}.").format(base_model, ", ".join(bands)))
        else:
            bands = list(BAND_SETS[self.parameterAsEnum(parameters, self.BANDS, context)][1])
            feedback.pushInfo(self.tr("Training from scratch on {}.").format(", ".join(bands)))
        label_classes = self.parameterAsString(parameters, self.LABEL_CLASSES, context).strip()
        band_mapping = self.parameterAsString(parameters, self.BAND_MAPPING, context).strip() or None

        output.parent.mkdir(parents=True, exist_ok=True)
        # Everything is written into a hidden folder beside the output and moved into place only when the
        # run succeeded, so a failed or cancelled run leaves no model behind and keeps an older one intact.
        staging = Path(tempfile.mkdtemp(prefix=f".{name}_training_", dir=str(output.parent)))
        moved: List[Path] = []
        try:
            scenes = self._read_scenes(products, pairs, resolution_m, label_classes, band_mapping, feedback)
            if scenes is None:
                raise QgsProcessingException(self.tr("Training cancelled; no model was written."))
            places = list(dict.fromkeys(s.record.place for s in scenes))
            if len(places) > 1:
                validation_places = [places[-1]]
                feedback.pushInfo(self.tr("{} scenes from {} places; holding out the last place, {}, for "
                                          "validation.").format(len(scenes), len(places), places[-1]))
            else:
                validation_places = []
                feedback.pushInfo(self.tr("{} scene(s) from one place ({}); validation patches are drawn from "
                                          "the training scenes, so the validation scores are optimistic.")
                                  .format(len(scenes), places[0]))
            training_set = save_scenes(staging / f"{name}_training_set.npz", scenes)
            del scenes
            config = TrainConfig(
                bands=bands, resolution_m=resolution_m,
                max_epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
                steps_per_epoch=self.parameterAsInt(parameters, self.STEPS_PER_EPOCH, context),
                seed=self.parameterAsInt(parameters, self.SEED, context),
                validation_places=validation_places,
                device=DEVICES[self.parameterAsEnum(parameters, self.DEVICE, context)])
            try:
                trained = train_model([training_set], staging / "model", name, config,
                                      workdir=staging / "work", init_model=base_model,
                                      feedback=_ScaledFeedback(feedback, READING_SHARE, 100.0))
            except Cancelled as exc:
                raise QgsProcessingException(self.tr("Training cancelled; no model was written.")) from exc
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Training cancelled; no model was written."))
            for path in sorted((staging / "model").iterdir()):
                target = output.parent / path.name
                os.replace(path, target)
                moved.append(target)
        except BaseException:
            for path in moved:  # a model is complete or absent, never half moved
                path.unlink(missing_ok=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

        fp32, fp16 = output.parent / trained.onnx_fp32.name, output.parent / trained.onnx_fp16.name
        validation = trained.summary["validation"]
        feedback.pushInfo(self.tr("Model written to {} (and {}), with its card {}.")
                          .format(fp32, fp16.name, fp32.with_suffix(".json").name))
        return {self.OUTPUT_MODEL: str(fp32), self.OUTPUT_MODEL_FP16: str(fp16),
                self.VALIDATION_LOSS: float(validation["loss"]),
                self.VALIDATION_CLOUD_BA: float(validation["cloud_ba"]),
                self.VALIDATION_SHADOW_BA: float(validation["shadow_ba"]),
                self.EPOCHS_RUN: int(trained.summary["epochs"]),
                self.BEST_EPOCH: int(trained.summary["best_epoch"])}


__all__ = ["TrainAlgorithm", "BASE_MODELS", "BAND_SETS"]

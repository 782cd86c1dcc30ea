"""Training and fine-tuning U-Nets: data, synthetic clouds, the loop, export and calibration.

trainer        the resumable training loop of a mask model
data           training scenes on disk and the patches drawn from them
synthetic      synthetic clouds and shadows on clear scenes
label_sources  training scenes from SCL or a user's label raster
train_model    train or fine-tune and export a model with its card
export         ONNX export (fp32 and fp16) with the card
calibration    decision weights chosen on labelled predictions
inpainting     training the reconstruction network
"""
__all__ = ["trainer", "data", "synthetic", "label_sources", "train_model", "export", "calibration", "inpainting"]

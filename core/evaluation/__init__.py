"""Scores: masks against reference labels and reconstructions against the truth.

masks            a class raster against a reference raster (label schemes, confusion, tables)
metrics          producer's, user's and balanced accuracy from confusion matrices
recon_metrics    reconstruction errors (MAE, RMSE, SAM, SSIM) on masked pixels
reconstructions  a reconstruction raster scored against a clear reference
"""
__all__ = ["masks", "metrics", "recon_metrics", "reconstructions"]

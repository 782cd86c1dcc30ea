"""The surface under clouds: from one image and its mask, or from several dates.

reconstruct      single-image reconstruction of a scene, strip by strip
strip_fill       one strip's holes filled by the inpainting network or interpolation
relight          cloud shadows relit from their surroundings instead of invented
inpainter        the inpainting network at inference time (card, session, tiling)
gapfill          multi-date gap-filling of arrays
gapfill_rasters  multi-date gap-filling of rasters
composite        best-pixel composites of a time series
timeseries       the dates of a series, their masks and common grid
styles           styles of reconstruction outputs
"""
__all__ = ["reconstruct", "strip_fill", "relight", "inpainter", "gapfill", "gapfill_rasters", "composite",
           "timeseries", "styles"]

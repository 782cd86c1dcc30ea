"""Reading and writing rasters: products, band sources, grids, DN scaling, atomic outputs.

bands          band names, presets and native resolutions
band_guess     the band mapping of an unlabelled raster (Auto)
dn             digital numbers to reflectance and back (offsets by processing baseline)
dates          acquisition dates of inputs
grid           the processing grid, windows, pixel size in metres
safe           .SAFE products: metadata, band files, sun angles
safe_integrity band files that are there and readable
sources        band sources: one reader for rasters and .SAFE bands, halo-free strips
inputs         what an input is and the band source that reads it
input_checks   reflectance sanity checks before any pixel is computed
outputs        writers, COG and styles; an output replaced only by a complete new one
output_guard   outputs never overwrite inputs, and nothing partial stays behind
gdal_cache     GDAL block cache limits per process
"""
__all__ = ["bands", "band_guess", "dn", "dates", "grid", "safe", "safe_integrity", "sources", "inputs",
           "input_checks", "outputs", "output_guard", "gdal_cache"]

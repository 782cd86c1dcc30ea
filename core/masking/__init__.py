"""Cloud and shadow masks: from a U-Net over a whole scene, from an array, or from SCL.

engine          a scene masked strip by strip (read, infer, write on their own threads)
arrays          the array-level API: classes and probabilities of a NumPy cube
class_raster    the class decision, buffering and the finished class raster with its figures
shadow_geometry shadow kept only where a cloud can cast it (sun azimuth, cloud heights)
morphology      octagonal buffers of mask classes
scl             the Scene Classification Layer turned into the same classes
pipeline        the threaded stages of a masking run
"""
__all__ = ["engine", "arrays", "class_raster", "shadow_geometry", "morphology", "scl", "pipeline"]

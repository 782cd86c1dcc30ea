"""Many scenes: one job per scene, run here or on a Dask cluster behind one interface.

jobs           a scene's job (mask, optional reconstruction), claims, summaries, the local runner
dask_executor  the same jobs on Dask workers
"""
__all__ = ["jobs", "dask_executor"]

"""The command line (`cloudfree ...`, `python -m cloudfree`): an entry point beside the QGIS algorithms.

main            argument parsing, every sub-command, exit status 2 on a bad input
batch           `cloudfree batch`: many scenes, resumable, locally or on Dask
reconstruction  `cloudfree reconstruct`, `gapfill`, `composite`, `evaluate-reconstruction`
"""
__all__ = ["main", "batch", "reconstruction"]

"""QGIS Processing algorithms of CloudFree: thin wrappers around cloudfree.core.

Each module holds one QgsProcessingAlgorithm that turns parameters into one
core call and its result into outputs; shared parameter handling, error
conversion and output styling live in `common`.
"""

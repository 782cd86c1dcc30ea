"""CloudFree engine: everything that reads, tiles, infers and writes, without QGIS."""

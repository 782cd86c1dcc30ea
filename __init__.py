"""CloudFree: Sentinel-2 cloud and shadow masking for QGIS.

Only classFactory lives here, and it imports the plugin lazily, so that the
QGIS-free engine (cloudfree.core) can be imported without QGIS.
"""


def classFactory(iface):  # noqa: N802 - name required by QGIS
    from .plugin import CloudFreePlugin
    return CloudFreePlugin(iface)

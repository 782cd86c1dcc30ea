"""CloudFree: Sentinel-2 cloud and shadow masking for QGIS.

Only classFactory lives here, and it imports the plugin lazily, so that the
QGIS-free engine (cloudfree.core) can be imported without QGIS.
"""


def classFactory(iface):  # noqa: N802 - name required by QGIS
    _add_dependency_folder()
    from .plugin import CloudFreePlugin
    return CloudFreePlugin(iface)


def _add_dependency_folder() -> None:
    """Put `<QGIS profile>/python/cloudfree_deps` on sys.path, where CloudFree installs missing packages.

    QGIS does not add that folder itself.  It must be on the path before
    anything imports onnxruntime or rasterio, so it is added here, before
    the plugin module loads; qgis is imported only inside this function so
    that importing the package without QGIS keeps working.
    """
    from pathlib import Path

    from qgis.core import QgsApplication, QgsMessageLog

    from .dependencies.check import activate, deps_dir
    try:
        activate(deps_dir(Path(QgsApplication.qgisSettingsDirPath()) / "python"))
    except Exception as exc:  # noqa: BLE001 - the plugin must load even if the folder is unusable
        QgsMessageLog.logMessage(f"CloudFree could not add its dependency folder to the Python path: {exc}",
                                 "CloudFree")

"""Exceptions of the engine.

Each subclasses the builtin that fits (ValueError for bad input, OSError for
unreadable files) so callers that already catch those keep working, and each
message says what the user should change.  The QGIS algorithms turn them into
QgsProcessingException; the command line prints them without a traceback.
"""


class CloudFreeError(Exception):
    """Base class: every error the engine raises on purpose."""


class InputError(CloudFreeError, ValueError):
    """The input raster or product cannot be used as given."""


class BandMappingError(InputError):
    """The band mapping does not fit the input or the model."""


class SafeProductError(InputError):
    """The path is not a readable Sentinel-2 .SAFE product."""


class ModelCardError(CloudFreeError, ValueError):
    """The model card does not match its ONNX file or the input."""


class RuntimeUnavailableError(CloudFreeError, RuntimeError):
    """The requested inference runtime or device is not installed or not usable."""


class UnreadableFileError(CloudFreeError, OSError):
    """A file exists but cannot be opened or read."""


class Cancelled(CloudFreeError):
    """The user cancelled the run; no output is left behind."""


def describe_error(exc: BaseException) -> str:
    """One line for any error that reaches a user: the engine's own message, or what failed and where.

    Errors the engine did not anticipate (a library's OSError, a decoder's
    error, a malformed file a parser choked on) still end as one message that
    names the file when the error carries one, never as a traceback.
    """
    if isinstance(exc, CloudFreeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "Out of memory; process a smaller area, a coarser resolution, or lower --max-memory."
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return f"{exc.strerror or exc} ({exc.filename})"
    text = str(exc).strip() or type(exc).__name__
    kind = type(exc).__name__
    return text if kind in text else f"{text} [{kind}]"

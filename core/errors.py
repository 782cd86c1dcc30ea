"""Exceptions of the engine.

Each subclasses the builtin that fits (ValueError for bad input, OSError for
unreadable files) so callers that already catch those keep working, and each
message says what the user should change.  The QGIS algorithms turn them into
QgsProcessingException; the command line prints them without a traceback.

A message that names an option names it with `option(key, value)`, and each
front end spells it its own way (`render_message`): `--dn-scale 255` on the
command line, `dn_scale=255` in Python, the dialog's field in QGIS; plain
`str(error)` gives the command line's and Python's spelling.
"""
from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

#: Options the engine's messages name: key -> (command line, Python, QGIS dialog or None where it has no field).
OPTIONS: Dict[str, Tuple[str, str, Optional[str]]] = {
    "dn_scale": ("--dn-scale {}", "dn_scale={}", "Advanced > DN scale: {}"),
    "dn_offset": ("--dn-offset {}", "dn_offset={}", "Advanced > DN offset: {}"),
    "dates": ("--dates {}", "dates=['2015-07-11', '2015-08-30', ...]", "Dates of the inputs: {}"),
    "max_masked": ("--max-masked {}", "max_masked_percent={}", "Advanced > Largest masked share (%): {}"),
    "max_memory": ("--max-memory {}", "max_memory_mb={}", None),
    "thin_cloud": ("--thin-cloud {}", "thin_cloud='{}'", "Advanced > Thin cloud: {}"),
}
_TOKEN = re.compile("\x1e([a-z_]+)\x1f([^\x1e]*)\x1e")


def option(key: str, value: str = "...") -> str:
    """An option with an example value, as a message names it; spelled by the front end that shows the message."""
    if key not in OPTIONS:
        raise KeyError(f"No spelling for the option {key}; add it to OPTIONS.")
    return f"\x1e{key}\x1f{value}\x1e"


def render_message(text: str, front: str = "default") -> str:
    """A message with its options spelled for `front`: 'cli', 'python', 'qgis' or 'default' (command line, then
    Python in brackets)."""
    def spell(match: "re.Match[str]") -> str:
        cli, python, qgis = OPTIONS[match.group(1)]
        value = match.group(2)
        if front == "cli":
            return cli.format(value).rstrip(" .")
        if front == "python":
            return python.format(value)
        if front == "qgis":
            return (qgis.format(value) if qgis else
                    f"the command line's {cli.format(value).rstrip(' .')} (this dialog has no such field)")
        return f"{cli.format(value).rstrip(' .')} (Python: {python.format(value)})"
    return _TOKEN.sub(spell, text)


class CloudFreeError(Exception):
    """Base class: every error the engine raises on purpose."""

    def __str__(self) -> str:
        return render_message(super().__str__())

    def render(self, front: str) -> str:
        """The message with its options spelled for one front end (see render_message)."""
        return render_message(super().__str__(), front)


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


def describe_error(exc: BaseException, front: str = "default") -> str:
    """One line for any error that reaches a user: the engine's own message, or what failed and where.

    Errors the engine did not anticipate (a library's OSError, a decoder's
    error, a malformed file a parser choked on) still end as one message that
    names the file when the error carries one, never as a traceback.
    """
    if isinstance(exc, CloudFreeError):
        return exc.render(front)
    if isinstance(exc, MemoryError):
        return render_message("Out of memory; process a smaller area, a coarser resolution, or a lower memory limit "
                              f"({option('max_memory', '512')}).", front)
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        return f"{exc.strerror or exc} ({exc.filename})"
    text = str(exc).strip() or type(exc).__name__
    kind = type(exc).__name__
    return text if kind in text else f"{text} [{kind}]"

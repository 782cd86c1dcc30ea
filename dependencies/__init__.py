"""Which Python packages the plugin needs, whether they import, and installing them (standard library only).

check    the requirement list, import checks with advice, the plugin's private site folder
install  pip into that folder (online or from a local wheel index), verified by a fresh interpreter
"""
__all__ = ["check", "install"]

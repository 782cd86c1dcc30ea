"""Bundled models and the scripts that build them."""

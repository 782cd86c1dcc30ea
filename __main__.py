"""`python -m cloudfree`: the QGIS-free command line."""
import sys

from .core.cli import main

sys.exit(main())

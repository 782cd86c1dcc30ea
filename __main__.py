"""`python -m cloudfree`: the QGIS-free command line."""
import sys

from .cli.main import main

sys.exit(main())

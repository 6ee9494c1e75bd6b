"""``python -m fingerpost`` and the ``fingerpost`` script: see :mod:`fingerpost.cli`."""

from __future__ import annotations

import sys

from .cli import PLOT_HINT, main

__all__ = ["PLOT_HINT", "main"]

if __name__ == "__main__":
    sys.exit(main())

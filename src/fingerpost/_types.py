"""Array aliases shared by every module, defined once."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["F32", "F64", "Vectors"]

# Any float32 array: scores, thresholds, features.
F32 = NDArray[np.float32]
# float64 work arrays (the calibration gate's solves).
F64 = NDArray[np.float64]
# The same type, named for what it holds where it holds embeddings: rows of L2-normalised
# float32 vectors (or one such row), as encoders return them and the table, store and remotes
# keep them.
Vectors = F32

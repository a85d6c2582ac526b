"""The array type aliases every module annotates with (one place, so they cannot drift).

Shapes follow the convention of docs/design.md: vectors on the last axis, batches leading.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

__all__ = ["BoolArray", "FloatArray", "IntArray"]

"""Atomic file output and deterministic JSON.

``write_atomic`` writes to a temporary file in the same folder and renames it over the
target, so an interrupted export never leaves a half-written file.  ``dumps`` turns
results (with numpy and mpmath numbers inside) into JSON that is identical byte for byte
for identical inputs.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import mpmath
import numpy as np


def write_atomic(path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def jsonable(x):
    """Convert numpy / mpmath / tuples into plain JSON types.

    An mpmath number that a double cannot hold (|x| > 1.8e308, or a non-zero |x| < 2.2e-308)
    is written as a string in mpmath's notation rather than silently becoming 0 or inf.
    """
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, mpmath.mpf):
        f = float(x)
        if (math.isinf(f) and not mpmath.isinf(x)) or (f == 0 and x != 0):
            return mpmath.nstr(x, 17)
        return f
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else str(f)
    return x


def dumps(obj) -> str:
    """Deterministic JSON text (keys in insertion order, two-space indent, newline at end)."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False) + "\n"

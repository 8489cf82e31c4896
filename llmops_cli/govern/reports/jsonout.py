"""Canonical JSON for artefacts: sorted keys, floats at 12 significant digits, no NaN, trailing newline.

The same inputs give the same bytes on every run (the bundle's sha256 depend on it).
"""

from __future__ import annotations

import json
import math
from typing import Any

FLOAT_DIGITS = 12


def normalise(obj: Any) -> Any:
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        value = float(f"{obj:.{FLOAT_DIGITS}g}")
        return 0.0 if value == 0 else value  # no "-0.0"
    if isinstance(obj, dict):
        return {str(k): normalise(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [normalise(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalar
        return normalise(obj.item())
    return str(obj)


def canonical_json(obj: Any) -> str:
    return json.dumps(normalise(obj), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

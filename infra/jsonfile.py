"""The one JSON reader of the offline tools: finite numbers, bounded integers, one-line errors.

`json.loads` accepts `NaN` and `Infinity` (not JSON, but Python writes them) and converts
integers of any length until Python's 4,300-digit limit raises a ValueError with a
traceback. A plan, a preview or a measured-rates file holding either would make a cost of
`nan` or a capacity check that passes because every comparison with NaN is false.
`loads_json` refuses both with one line; `load_json` adds the file's name.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from infra.yamlfile import shown

# The longest integer literal a JSON file of ours or the engine's can hold. The engine's
# numbers are float64 written by Go's encoding/json, which switches to exponent form at
# 1e21 (encode.go, floatEncoder: "if abs < 1e-6 || abs >= 1e21 { fmt = 'e' }"), so 21
# digits; our plans hold the program's sizes and counts, far below that.
MAX_INT_DIGITS = 21


class JsonError(ValueError):
    """A JSON document that cannot be read as data; the message is one line."""


def _constant(name: str) -> Any:
    raise JsonError(f"{name} is not a finite number; allowed: finite numbers")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonError(f"{shown(text)} is out of range; allowed: finite numbers")
    return value


def _int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise JsonError(f"an integer of {digits:,} digits; allowed: at most {MAX_INT_DIGITS}")
    return int(text)


def strict_decoder() -> json.JSONDecoder:
    """A decoder with the same number rules, for streams read with `raw_decode`."""
    return json.JSONDecoder(parse_constant=_constant, parse_float=_float, parse_int=_int)


def loads_json(text: str | bytes, what: str = "document") -> Any:
    """The data in `text`; JsonError (one line) when it is not strict, finite JSON."""
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except JsonError as exc:
        raise JsonError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JsonError(
            f"{what}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None
    except UnicodeDecodeError:
        raise JsonError(f"{what} is not UTF-8 text") from None
    except RecursionError:
        raise JsonError(f"{what} nests too deeply; allowed: plain data") from None


def load_json(path: Path, what: str = "file") -> Any:
    """The data in `path`; JsonError (one line, naming the file) when it is not usable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JsonError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    return loads_json(raw, f"{path}: {what}")

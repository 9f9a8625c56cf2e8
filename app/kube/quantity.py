"""Kubernetes resource quantities ("256Mi", "0.5", "1G", "250m", "1e3") to and from our units.

The grammar (apimachinery ``resource.Quantity``)::

    quantity  ::= sign? number suffix?
    number    ::= digits | digits "." digits? | "." digits
    suffix    ::= binarySI | decimalSI | ("e" | "E") sign? digits
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 1024)
    decimalSI ::= n | u | m | "" | k | M | G | T | P | E (powers of 1000)

"1E" is exa while "1E3" is an exponent; "m" is milli and "M" mega. The apiserver answers in a
canonical form that may differ from what was sent ("1024Mi" comes back as "1Gi", "1000m" as
"1"), so readers must parse, never compare strings.

Values are parsed exactly (as fractions) and converted with rounding up, as Kubernetes does in
``Quantity.Value()`` and ``MilliValue()``: "1G" of memory is 953.67 MiB and reads as 954.
"""

from __future__ import annotations

import functools
import math
import re
from fractions import Fraction

MEBIBYTE = 1024**2

_BINARY_SUFFIXES = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_SUFFIXES = {
    "n": -3,
    "u": -2,
    "m": -1,
    "": 0,
    "k": 1,
    "M": 2,
    "G": 3,
    "T": 4,
    "P": 5,
    "E": 6,
}
# Beyond this the number is nonsense for memory or CPU, and a huge exponent would make the
# exact fraction arbitrarily expensive to build.
_MAX_EXPONENT = 30

_QUANTITY = re.compile(
    r"(?P<sign>[+-])?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?",
    re.ASCII,
)


class QuantityError(ValueError):
    """The text is not a Kubernetes quantity."""


# Pods repeat a handful of quantities ("512Mi", "250m"): every pod conversion in the informer
# parses several, so the results are memoised (bounded; errors are not kept).
@functools.lru_cache(maxsize=1024)
def parse_quantity(text: str) -> Fraction:
    """The exact value of a quantity, in base units (bytes, cores)."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise QuantityError(f"{text!r} is not a Kubernetes quantity")
    value = Fraction(match["number"])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_SUFFIXES:
        value *= 1024 ** _BINARY_SUFFIXES[suffix]
    elif suffix in _DECIMAL_SUFFIXES:
        value *= Fraction(1000) ** _DECIMAL_SUFFIXES[suffix]
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise QuantityError(f"{text!r} has an exponent out of range")
        value *= Fraction(10) ** exponent
    return -value if match["sign"] == "-" else value


@functools.lru_cache(maxsize=1024)
def to_mebibytes(text: str) -> int:
    """A memory quantity in MiB, rounded up."""
    return math.ceil(parse_quantity(text) / MEBIBYTE)


@functools.lru_cache(maxsize=1024)
def to_millicores(text: str) -> int:
    """A CPU quantity in millicores, rounded up."""
    return math.ceil(parse_quantity(text) * 1000)


def format_mebibytes(mebibytes: int) -> str:
    return f"{mebibytes}Mi"


def format_millicores(millicores: int) -> str:
    return f"{millicores}m"

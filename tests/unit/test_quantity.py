from fractions import Fraction

import pytest

from app.kube.quantity import (
    QuantityError,
    format_mebibytes,
    format_millicores,
    parse_quantity,
    to_mebibytes,
    to_millicores,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", Fraction(0)),
        ("1", Fraction(1)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("+2", Fraction(2)),
        ("-2", Fraction(-2)),
        ("250m", Fraction(1, 4)),
        ("100u", Fraction(1, 10_000)),
        ("7n", Fraction(7, 10**9)),
        ("1k", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1G", Fraction(10**9)),
        ("1T", Fraction(10**12)),
        ("1P", Fraction(10**15)),
        ("1E", Fraction(10**18)),
        ("1Ki", Fraction(1024)),
        ("256Mi", Fraction(256 * 1024**2)),
        ("1Gi", Fraction(1024**3)),
        ("1.5Gi", Fraction(3 * 1024**3, 2)),
        ("1Ti", Fraction(1024**4)),
        ("1Pi", Fraction(1024**5)),
        ("1Ei", Fraction(1024**6)),
        ("536870912", Fraction(536870912)),
        ("1e3", Fraction(1000)),
        ("1E3", Fraction(1000)),
        ("12e-1", Fraction(6, 5)),
        ("1e+2", Fraction(100)),
    ],
)
def test_parse_quantity_is_exact(text: str, expected: Fraction) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "Mi",
        "1 Mi",
        " 1",
        "1Mi ",
        "1mi",
        "1MB",
        "1KI",
        "1K",
        "1.2.3",
        ".",
        "1e",
        "1e1.5",
        "0x10",
        "1Mi1",
        "--1",
        "1e999",
        "\u0661",  # Arabic-Indic digit one: \d would accept it, Kubernetes does not
    ],
)
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "mebibytes"),
    [
        ("256Mi", 256),
        ("1Gi", 1024),
        ("0.5Gi", 512),
        ("536870912", 512),
        ("1G", 954),  # 953.67 MiB, rounded up as Kubernetes rounds
        ("512M", 489),
        ("1Ki", 1),
        ("1", 1),
        ("0", 0),
        ("160Mi", 160),
        ("1e9", 954),
    ],
)
def test_to_mebibytes_rounds_up(text: str, mebibytes: int) -> None:
    assert to_mebibytes(text) == mebibytes


@pytest.mark.parametrize(
    ("text", "millicores"),
    [
        ("250m", 250),
        ("0.5", 500),
        ("1", 1000),
        ("2", 2000),
        ("1.5", 1500),
        ("100u", 1),  # 0.1 millicore rounds up to 1
        ("1k", 1_000_000),
        ("0", 0),
        ("0.001", 1),
    ],
)
def test_to_millicores_rounds_up(text: str, millicores: int) -> None:
    assert to_millicores(text) == millicores


def test_formatting_round_trips() -> None:
    assert format_mebibytes(256) == "256Mi"
    assert format_millicores(250) == "250m"
    assert to_mebibytes(format_mebibytes(4096)) == 4096
    assert to_millicores(format_millicores(1500)) == 1500

import pytest

from app.models import BadUserInput
from app.sandboxes.label_selector import (
    MAX_SELECTOR_LENGTH,
    SelectorOperator,
    compile_label_selector,
)
from app.sandboxes.validation import parse_label_selector


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("   ", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        (" a = b ", "a=b"),
        ("a!=b", "a!=b"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("a", "a"),
        ("!a", "!a"),
        ("! a", "!a"),
        ("a in (y,x)", "a in (x,y)"),
        ("a in (x, x)", "a in (x)"),
        ("a notin (x)", "a notin (x)"),
        ("a in(x)", "a in (x)"),
        (
            "example.com/tier=web,env in (prod,staging),!legacy,team",
            "example.com/tier=web,env in (prod,staging),!legacy,team",
        ),
        ("k=V_1.x-2", "k=V_1.x-2"),
    ],
)
def test_valid_selectors_in_canonical_form(text: str, canonical: str) -> None:
    assert parse_label_selector(text) == canonical


@pytest.mark.parametrize(
    "text",
    [
        ",",
        "a,",
        ",a",
        "a,,b",
        "=b",
        "!=b",
        "a=b=c",
        "a b",
        "a in",
        "a in x",
        "a in ()",
        "a in (x",
        "a in (x,)",
        "a in (,x)",
        "a notin x)",
        "a>1",
        "a<1",
        "!a=b",
        "!",
        "in=x",
        "a=in",
        "a=-b",
        "a=" + "v" * 64,
        "-a=b",
        "a/b/c=d",
        "Bad.Prefix/a=b",
        "a=b)",
        "(a=b)",
        "a=b c",
        "a x",
        "a" * (MAX_SELECTOR_LENGTH + 1),
    ],
)
def test_invalid_selectors_name_the_field(text: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        parse_label_selector(text, field="filter.labelSelector")
    assert caught.value.field == "filter.labelSelector"
    assert caught.value.message.startswith("invalid label selector") or "longer" in (
        caught.value.message
    )


def test_error_message_points_at_the_token() -> None:
    with pytest.raises(BadUserInput, match=r"found 'b' at position 2"):
        parse_label_selector("a b")
    with pytest.raises(BadUserInput, match="found the end"):
        parse_label_selector("a in (x")


LABELS = {"app": "kata-sandbox", "env": "prod", "tier": ""}


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("", True),
        ("env=prod", True),
        ("env==prod", True),
        ("env=dev", False),
        ("env!=dev", True),
        ("env!=prod", False),
        ("missing!=x", True),
        ("tier=", True),
        ("tier", True),
        ("env", True),
        ("missing", False),
        ("!missing", True),
        ("!env", False),
        ("env in (dev,prod)", True),
        ("env in (dev)", False),
        ("missing in (x)", False),
        ("env notin (dev)", True),
        ("env notin (prod)", False),
        ("missing notin (x)", True),
        ("env=prod,app=kata-sandbox", True),
        ("env=prod,app=other", False),
    ],
)
def test_matching_follows_kubernetes(text: str, matches: bool) -> None:
    assert compile_label_selector(text).matches(LABELS) is matches


def test_compiled_requirements() -> None:
    selector = compile_label_selector("a in (2,1), !b")
    first, second = selector.requirements
    assert (first.key, first.operator, first.values) == ("a", SelectorOperator.IN, ("1", "2"))
    assert (second.key, second.operator) == ("b", SelectorOperator.DOES_NOT_EXIST)

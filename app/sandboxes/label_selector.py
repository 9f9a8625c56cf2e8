"""Label selectors in the Kubernetes text syntax, parsed strictly and matched locally.

Queries read the informer's store rather than the apiserver, so a client's ``labelSelector`` is
evaluated here; it must mean exactly what it would mean to the apiserver. Grammar (apimachinery
``labels.Parse``)::

    selector    ::= requirement ("," requirement)*
    requirement ::= "!" KEY                        absent
                  | KEY                            present
                  | KEY ("=" | "==" | "!=") VALUE  (VALUE may be empty)
                  | KEY ("in" | "notin") "(" VALUE ("," VALUE)* ")"

Whitespace between tokens is ignored; an empty selector matches everything. ``!=`` and
``notin`` also match objects that lack the key, as in Kubernetes. The ``<`` / ``>`` operators that
Kubernetes accepts for integer values are not supported.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.models.errors import BadUserInput
from app.models.kubernetes_names import is_label_value, is_qualified_name

MAX_SELECTOR_LENGTH = 4096

# Operators first, so "!=" and "==" are not read as "!" or "=" followed by something.
_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|[^\s!=,()]+)")


_NON_IDENTIFIERS = frozenset({"!=", "==", "=", "!", ",", "(", ")", "in", "notin"})


class SelectorOperator(enum.Enum):
    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: SelectorOperator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        match self.operator:
            case SelectorOperator.EXISTS:
                return value is not None
            case SelectorOperator.DOES_NOT_EXIST:
                return value is None
            case SelectorOperator.EQUALS | SelectorOperator.IN:
                return value is not None and value in self.values
            case SelectorOperator.NOT_EQUALS | SelectorOperator.NOT_IN:
                return value is None or value not in self.values

    def __str__(self) -> str:
        match self.operator:
            case SelectorOperator.EXISTS:
                return self.key
            case SelectorOperator.DOES_NOT_EXIST:
                return f"!{self.key}"
            case SelectorOperator.EQUALS | SelectorOperator.NOT_EQUALS:
                return f"{self.key}{self.operator.value}{self.values[0]}"
            case SelectorOperator.IN | SelectorOperator.NOT_IN:
                return f"{self.key} {self.operator.value} ({','.join(self.values)})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


class _Parser:
    def __init__(self, text: str, field: str) -> None:
        self._field = field
        self._tokens: list[tuple[int, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:  # only trailing whitespace is left
                break
            self._tokens.append((match.start(1), match.group(1)))
            position = match.end()
        self._index = 0

    def _fail(self, expected: str) -> BadUserInput:
        if self._index < len(self._tokens):
            position, token = self._tokens[self._index]
            found = f"{token!r} at position {position}"
        else:
            found = "the end"
        return BadUserInput(
            f"invalid label selector: expected {expected}, found {found}", field=self._field
        )

    def _peek(self) -> str | None:
        return self._tokens[self._index][1] if self._index < len(self._tokens) else None

    def _take(self) -> str:
        token = self._tokens[self._index][1]
        self._index += 1
        return token

    def _is_identifier(self, token: str | None) -> bool:
        # "in" and "notin" are keywords to the Kubernetes lexer wherever they appear.
        return token is not None and token not in _NON_IDENTIFIERS

    def _key(self) -> str:
        token = self._peek()
        if not self._is_identifier(token):
            raise self._fail("a label key")
        assert token is not None
        if not is_qualified_name(token):
            raise BadUserInput(
                f"invalid label selector: {token!r} is not a valid label key", field=self._field
            )
        self._index += 1
        return token

    def _value(self) -> str:
        token = self._peek()
        if not self._is_identifier(token):
            raise self._fail("a label value")
        assert token is not None
        if not is_label_value(token):
            raise BadUserInput(
                f"invalid label selector: {token!r} is not a valid label value", field=self._field
            )
        self._index += 1
        return token

    def _value_set(self) -> tuple[str, ...]:
        if self._peek() != "(":
            raise self._fail("'('")
        self._take()
        values = {self._value()}
        while self._peek() == ",":
            self._take()
            values.add(self._value())
        if self._peek() != ")":
            raise self._fail("',' or ')'")
        self._take()
        return tuple(sorted(values))

    def _requirement(self) -> Requirement:
        if self._peek() == "!":
            self._take()
            return Requirement(self._key(), SelectorOperator.DOES_NOT_EXIST)
        key = self._key()
        following = self._peek()
        if following is None or following == ",":
            return Requirement(key, SelectorOperator.EXISTS)
        if following in ("=", "==", "!="):
            self._take()
            operator = SelectorOperator.NOT_EQUALS if following == "!=" else SelectorOperator.EQUALS
            # An empty value ("a=" or "a=,b") selects the empty label value.
            value = "" if self._peek() in (None, ",") else self._value()
            return Requirement(key, operator, (value,))
        if following in ("in", "notin"):
            self._take()
            operator = SelectorOperator.IN if following == "in" else SelectorOperator.NOT_IN
            return Requirement(key, operator, self._value_set())
        raise self._fail("'=', '==', '!=', 'in', 'notin', ',' or the end")

    def parse(self) -> LabelSelector:
        if not self._tokens:
            return LabelSelector()
        requirements = [self._requirement()]
        while self._peek() is not None:
            if self._peek() != ",":
                raise self._fail("',' or the end")
            self._take()
            requirements.append(self._requirement())
        return LabelSelector(tuple(requirements))


def compile_label_selector(text: str, *, field: str = "labelSelector") -> LabelSelector:
    """Parse a selector for local matching; raise ``BadUserInput`` naming ``field``."""
    if len(text) > MAX_SELECTOR_LENGTH:
        raise BadUserInput(
            f"label selector is longer than {MAX_SELECTOR_LENGTH} characters", field=field
        )
    return _Parser(text, field).parse()


def parse_label_selector(text: str, *, field: str = "labelSelector") -> str:
    """Check a selector and return it in canonical form, ready for the apiserver."""
    return str(compile_label_selector(text, field=field))

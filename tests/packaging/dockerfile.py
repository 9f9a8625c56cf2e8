"""The Dockerfile and .dockerignore as data, for tests that cannot build the image.

No container engine runs where the tests run, so the image's properties are read from its
Dockerfile: ``dockerfile-parse`` splits it into instructions (continuation lines, comments, JSON
forms), and ``stages()`` groups them by ``FROM``. ``DockerIgnore`` applies .dockerignore rules as
BuildKit does (Go ``filepath.Match`` plus ``**``, the last matching rule wins, a rule matching a
directory covers what is inside it).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser  # type: ignore[import-untyped]

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
HADOLINT_CONFIG = REPO_ROOT / ".hadolint.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON array of ``CMD``/``ENTRYPOINT``/``HEALTHCHECK CMD``; fails for shell form."""
        text = self.value
        if self.keyword == "HEALTHCHECK":
            _, separator, text = text.partition("CMD ")
            assert separator, f"line {self.line}: HEALTHCHECK without CMD"
        parsed = json.loads(text)
        assert isinstance(parsed, list), f"line {self.line}: not an exec-form array: {text}"
        return [str(part) for part in parsed]

    def flags(self) -> dict[str, str]:
        """Leading ``--name=value`` options (``COPY --from=...``, ``RUN --mount=...``)."""
        flags: dict[str, str] = {}
        for word in self.value.split():
            if not word.startswith("--"):
                break
            name, _, setting = word[2:].partition("=")
            flags[name] = setting
        return flags


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        variables: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for word in shlex.split(instruction.value):
                name, separator, value = word.partition("=")
                assert separator, f"line {instruction.line}: use ENV NAME=value, not {word!r}"
                variables[name] = value
        return variables

    def run_commands(self) -> str:
        return "\n".join(i.value for i in self.all("RUN"))


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    parser = DockerfileParser(path=str(path), env_replace=False)
    return [
        Instruction(
            keyword=str(item["instruction"]), value=str(item["value"]), line=item["startline"] + 1
        )
        for item in parser.structure
        if item["instruction"] != "COMMENT"
    ]


def global_args(path: Path = DOCKERFILE) -> dict[str, str]:
    """``ARG`` defaults declared before the first ``FROM``."""
    args: dict[str, str] = {}
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.value.partition("=")
            args[name] = default
    return args


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    found: list[Stage] = []
    for instruction in instructions(path):
        if instruction.keyword == "FROM":
            words = instruction.value.split()
            words = [w for w in words if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=words[0], name=name))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def _glob_to_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern[str]
    exclude: bool


class DockerIgnore:
    def __init__(self, text: str) -> None:
        self.rules: list[_Rule] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclude = not line.startswith("!")
            pattern = line.lstrip("!").strip().strip("/")
            # filepath.Clean: collapse '//' and './'.
            pattern = "/".join(part for part in pattern.split("/") if part not in ("", "."))
            self.rules.append(_Rule(re.compile(_glob_to_regex(pattern)), exclude))

    @classmethod
    def load(cls, path: Path = DOCKERIGNORE) -> DockerIgnore:
        return cls(path.read_text())

    def excluded(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for rule in self.rules:
            if any(rule.regex.fullmatch(candidate) for candidate in candidates):
                verdict = rule.exclude
        return verdict

"""Hypothesis strategies for hostile GraphQL requests, each one certain to be refused.

Every create carries at least one *poison*: a value that is invalid by construction (a character
no image reference may hold, an env name starting with a digit, an oversized list, a number out
of range, a wrong type, an unknown field such as ``hostNetwork``), beside other fields that are
random and may or may not be valid. So no request here may create a pod, whatever the service
accepts elsewhere. Reads and bulk mutations run as a fresh tenant that owns nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.graphql.helpers import CREATE

Json = dict[str, Any]
Request = tuple[str, Json]

BUSYBOX = "docker.io/library/busybox:1.36"
RESTART_POLICIES = ("NEVER", "ALWAYS", "ON_FAILURE")
# Never allowed anywhere in an image reference.
IMAGE_POISON = [" ", "\t", "\n", "\x00", "\x7f", "!", '"', "\\", "{", "$", "\u202e", "é"]
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),  # control characters
    st.sampled_from(
        [
            "'; DROP TABLE pods; --",
            "$(reboot)",
            "`id`",
            "../../etc/passwd",
            "%00",
            "\ud800",  # a lone surrogate
            "a" * 5000,
            "{{7*7}}",
            "${jndi:ldap://x}",
            "<script>alert(1)</script>",
            "kata-sandbox-api/tenant=other",
            "app=kata-sandbox",
        ]
    ),
)
# Values no field of the API accepts: out of GraphQL's Int range, or not positive.
HUGE_INTS = st.sampled_from([-(2**63), -(2**31) - 1, -1, 0, 2**31, 2**53 + 1, 2**63, 10**30])
# Not a string: for a String! field every one of them is a type error.
NOT_STRINGS = st.one_of(
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.just(None),
)
WRONG_TYPES = st.one_of(NOT_STRINGS, st.text(max_size=10))
SELECTORS = st.one_of(
    HOSTILE_TEXT,
    st.sampled_from(
        [
            "a in (b",
            "a notin ()",
            "!",
            "a=b,,c=d",
            "a==b==c",
            "x=" + "y" * 100,
            "a in (" + ",".join("v" * 3 for _ in range(500)) + ")",
            "a=b) or (1=1",
            "a=b\nc=d",
            "a",
            "!a",
            "a!=b",
        ]
    ),
)


def _env_poison() -> st.SearchStrategy[Json]:
    bad_name = st.builds(lambda n: f"{n}X", st.sampled_from(list("0123456789 =\x00/")))
    return st.fixed_dictionaries(
        {
            "env": st.lists(
                st.fixed_dictionaries({"name": bad_name, "value": HOSTILE_TEXT}),
                min_size=1,
                max_size=3,
            )
        }
    )


def _poisons() -> st.SearchStrategy[Json]:
    """Spec fragments that are invalid by construction."""
    return st.one_of(
        st.builds(
            lambda before, bad, after: {"image": before + bad + after},
            st.text(max_size=20),
            st.sampled_from(IMAGE_POISON),
            st.text(max_size=20),
        ),
        st.fixed_dictionaries({"image": st.just("x" * 300)}),
        _env_poison(),
        st.fixed_dictionaries({"env": st.just([{"name": "A", "value": "a\x00b"}])}),
        st.fixed_dictionaries(
            {
                "labels": st.lists(
                    st.fixed_dictionaries({"key": st.just("bad key!"), "value": HOSTILE_TEXT}),
                    min_size=1,
                    max_size=2,
                )
            }
        ),
        st.fixed_dictionaries({"labels": st.just([{"key": "ok", "value": "v" * 64}])}),
        st.fixed_dictionaries(
            {"labels": st.just([{"key": "kata-sandbox-api/tenant", "value": "x"}])}
        ),
        st.fixed_dictionaries(
            {
                "resources": st.fixed_dictionaries(
                    {"limits": st.fixed_dictionaries({"memoryMi": HUGE_INTS})}
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "resources": st.fixed_dictionaries(
                    {"requests": st.fixed_dictionaries({"cpuMillicores": HUGE_INTS})}
                )
            }
        ),
        st.fixed_dictionaries({"command": st.lists(st.just("x"), min_size=65, max_size=300)}),
        st.fixed_dictionaries({"args": st.just(["\x00"])}),
        st.fixed_dictionaries(
            {
                "scratch": st.fixed_dictionaries(
                    {
                        "mountPath": st.sampled_from(
                            ["", "rel", "/proc/1", "/a/../b", "/", "/dev", "/x\x00"]
                        )
                    }
                )
            }
        ),
        st.fixed_dictionaries({"configMaps": st.just([{"name": "Bad_Name", "mountPath": "/c"}])}),
        st.fixed_dictionaries({"readyTimeoutSeconds": HUGE_INTS}),
        st.fixed_dictionaries({"ttlSeconds": HUGE_INTS}),
        st.fixed_dictionaries(
            {"idempotencyKey": st.builds(lambda t: t + "\x00", st.text(max_size=300))}
        ),
        st.fixed_dictionaries({"image": NOT_STRINGS}),
        st.fixed_dictionaries(
            {"restartPolicy": st.text(max_size=10).filter(lambda t: t not in RESTART_POLICIES)}
        ),
        # Past the request body limit of the tests' server (64 KiB): 413 before anything runs.
        st.fixed_dictionaries({"args": st.just(["y" * 100] * 1000)}),
        st.fixed_dictionaries({"waitForReady": st.sampled_from(["yes", 1, [], {}])}),
        st.builds(
            lambda key, value: {key: value},
            st.sampled_from(
                [
                    "hostNetwork",
                    "hostPID",
                    "privileged",
                    "hostPath",
                    "securityContext",
                    "capabilities",
                ]
            ),
            st.one_of(st.just(True), st.just({"add": ["SYS_ADMIN"]}), st.just("/")),
        ),
    )


def _noise() -> st.SearchStrategy[Json]:
    """Other fields, random: valid or not, they cannot make a poisoned spec valid."""
    return st.fixed_dictionaries(
        {},
        optional={
            "command": st.lists(HOSTILE_TEXT, max_size=4),
            "args": st.lists(HOSTILE_TEXT, max_size=4),
            "env": st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["A", "B_1"]), "value": HOSTILE_TEXT}
                ),
                max_size=2,
            ),
            "labels": st.lists(
                st.fixed_dictionaries(
                    {"key": st.sampled_from(["team", "x.y/z"]), "value": st.sampled_from(["a", ""])}
                ),
                max_size=2,
            ),
            "resources": st.fixed_dictionaries(
                {},
                optional={
                    "limits": st.fixed_dictionaries(
                        {}, optional={"memoryMi": st.integers(-5, 5000)}
                    )
                },
            ),
            "restartPolicy": st.sampled_from(["NEVER", "ALWAYS", "ON_FAILURE"]),
            "scratch": st.fixed_dictionaries({"mountPath": st.sampled_from(["/data", "/tmp/x"])}),
        },
    )


def creates() -> st.SearchStrategy[Request]:
    def build(noise: Json, poison: Json) -> Request:
        return CREATE, {"input": {"image": BUSYBOX, **noise, **poison}}

    return st.builds(build, _noise(), _poisons())


def reads() -> st.SearchStrategy[Request]:
    page = (
        "query($f: SandboxFilter, $first: Int, $after: String) {"
        " sandboxes(filter: $f, first: $first, after: $after) {"
        " totalCount edges { node { name logs events { reason } } } } }"
    )
    one = (
        "query($n: String!, $t: Int, $s: Int) { sandbox(name: $n) {"
        " name logs(tailLines: $t, sinceSeconds: $s) events(limit: $t) { reason } } }"
    )
    return st.one_of(
        st.builds(
            lambda s, first, after: (
                page,
                {"f": {"labelSelector": s}, "first": first, "after": after},
            ),
            SELECTORS,
            st.one_of(HUGE_INTS, st.integers(-3, 300), WRONG_TYPES),
            st.one_of(st.none(), HOSTILE_TEXT),
        ),
        st.builds(
            lambda f: (page, {"f": f}),
            st.fixed_dictionaries(
                {},
                optional={
                    "phases": st.lists(st.text(max_size=8), max_size=3),
                    "ready": WRONG_TYPES,
                    "bogus": st.integers(),
                },
            ),
        ),
        st.builds(
            lambda n, t, s: (one, {"n": n, "t": t, "s": s}), HOSTILE_TEXT, HUGE_INTS, HUGE_INTS
        ),
    )


def writes() -> st.SearchStrategy[Request]:
    delete = (
        "mutation($n: String!, $g: Int, $f: Boolean) {"
        " deleteSandbox(name: $n, gracePeriodSeconds: $g, force: $f) { count } }"
    )
    bulk = (
        "mutation($s: String!, $g: Int) {"
        " deleteSandboxes(labelSelector: $s, gracePeriodSeconds: $g) { count deleted } }"
    )
    cleanup = (
        "mutation($c: Boolean, $o: Int) {"
        " cleanupSandboxes(completed: $c, olderThanSeconds: $o) { count } }"
    )
    return st.one_of(
        st.builds(
            lambda n, g: (delete, {"n": n, "g": g, "f": True}),
            HOSTILE_TEXT,
            st.one_of(st.none(), HUGE_INTS),
        ),
        st.builds(
            lambda s, g: (bulk, {"s": s, "g": g}),
            SELECTORS,
            st.one_of(st.none(), HUGE_INTS, WRONG_TYPES),
        ),
        st.builds(
            lambda c, o: (cleanup, {"c": c, "o": o}),
            st.one_of(st.booleans(), WRONG_TYPES),
            st.one_of(HUGE_INTS, WRONG_TYPES),
        ),
    )


def documents() -> st.SearchStrategy[Request]:
    """Broken or hostile documents: syntax errors, unknown fields, deep nesting, many aliases."""
    return st.one_of(
        # (An empty document is strawberry's plain-text 400, not a GraphQL error: left out.)
        st.builds(lambda text: (text, {}), HOSTILE_TEXT.filter(lambda t: t.strip() != "")),
        st.builds(
            lambda depth: (
                "{ sandboxes { edges { node { " + "a { " * depth + "b" + " }" * depth + " } } } }",
                {},
            ),
            st.integers(5, 200),
        ),
        st.builds(
            lambda n: (
                "{ " + " ".join(f'a{i}: sandbox(name: "x") {{ name }}' for i in range(n)) + " }",
                {},
            ),
            st.integers(31, 400),
        ),
        st.builds(
            lambda field: (
                'mutation { createSandbox(input: {image: "busybox", '
                + field
                + ": true}) { name } }",
                {},
            ),
            st.sampled_from(["hostNetwork", "privileged", "hostPID", "securityContext"]),
        ),
        st.just(("{ __typename " * 50, {})),
    )


def requests() -> st.SearchStrategy[Request]:
    return st.one_of(creates(), creates(), reads(), writes(), documents())

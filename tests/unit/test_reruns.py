"""`make test`'s re-run of a failed test gets a fresh module (tests/conftest.py), not the failed attempt's leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: The inner session: no cache folder, no pytest-asyncio (its unset-loop-scope warning is the outer run's noise).
QUIET = ("-p", "no:cacheprovider", "-p", "no:asyncio")
CONFTEST = Path(__file__).parents[1] / "conftest.py"

MODULE = """
import pytest

SETUPS = []
ATTEMPTS = {"a": 0}


@pytest.fixture(scope="module")
def sandbox():
    SETUPS.append("up")
    made = set()
    yield made
    SETUPS.append("down")


def test_creates_then_fails_once(sandbox):
    assert "multi" not in sandbox, "409 AlreadyExists: the failed attempt's object"
    sandbox.add("multi")
    ATTEMPTS["a"] += 1
    assert ATTEMPTS["a"] > 1, "the first attempt fails"


def test_next_in_module(sandbox):
    assert SETUPS == ["up", "down", "up"]
"""


def test_a_rerun_starts_from_a_fresh_module_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_module=MODULE)
    result = pytester.runpytest_inprocess(*QUIET, "--reruns", "1", "--rerun-show-tracebacks")
    outcomes = result.parseoutcomes()
    assert (outcomes.get("passed"), outcomes.get("rerun"), outcomes.get("failed")) == (2, 1, None), outcomes
    # The first attempt's failure is printed, not only the re-run's verdict.
    result.stdout.fnmatch_lines(["*the first attempt fails*"])


def test_without_reruns_nothing_is_torn_down_early(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(test_module=MODULE)
    result = pytester.runpytest_inprocess(*QUIET)
    result.assert_outcomes(passed=0, failed=2)

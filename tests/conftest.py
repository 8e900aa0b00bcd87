"""A re-run starts from a clean module: what a failed attempt left behind does not fail the next one.

`make test` re-runs a failed test once (pytest-rerunfailures `--reruns 1`). Most tests share a sandbox per
module (tests/integration/conftest.py), and the objects a failed attempt created (a LocalRecording named
`multi`, an Agora session, a scraped gauge) are still there when the attempt is re-run in the same sandbox: the
re-run then fails on `409 AlreadyExists` or on a count, and hides why the first attempt failed. So after a
failed attempt that will be re-run, the module's fixtures are torn down here (the sandbox stops, its state
goes), and the re-run sets them up afresh; `--rerun-show-tracebacks` prints the first attempt's failure.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether this attempt's setup or call failed (reset when an attempt's setup begins)."""
    report = yield
    if report.when == "setup":
        item.stash[_FAILED] = report.failed
    elif report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def _rerun_follows(item: pytest.Item) -> bool:
    """True when this attempt failed and pytest-rerunfailures will run the test again."""
    reruns = item.config.getoption("reruns", None) or 0
    attempt = getattr(item, "execution_count", 1)
    return item.stash.get(_FAILED, False) and attempt <= reruns


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tear down the failed attempt's module (its sandbox) so that the re-run gets a new one.

    pytest then tears down as usual up to what `nextitem` shares; the re-run's setup builds the module's
    fixtures again. `_setupstate` is pytest's own stack of set-up nodes (what `teardown_exact` walks).
    """
    if not _rerun_follows(item):
        return
    module = item.getparent(pytest.Module)
    if module is None or module.parent is None:
        return
    item.session._setupstate.teardown_exact(module.parent)  # type: ignore[arg-type]

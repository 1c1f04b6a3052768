"""Repository-wide pytest policy: a skipped test is a failed run.

Every test here runs against real services (Odoo 18, PostgreSQL, Redis, Chromium for the
browser tour). A test that skips itself — a missing module, a missing browser — has not
shown anything, so the run fails and names it instead of reporting a green result.
"""

import pytest

_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _SKIPPED.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _SKIPPED:
        terminalreporter.section("skipped tests fail this run", red=True)
        for line in _SKIPPED:
            terminalreporter.line(line)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _SKIPPED and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

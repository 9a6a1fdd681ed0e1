"""Browser tests: Playwright for Python driving Debian's Chromium (headless) against the
real stack (`stack` from tests/conftest.py: nginx in front of the workers).

Playwright's own browser downloads are not used: the system Chromium is launched by path.
Every test gets a fresh browser context (empty localStorage and sessionStorage), and
leaves a screenshot of its page in test-output/e2e/<test name>.png. A test fails if the
page throws or the browser reports a Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.browser import CHROMIUM_ARGS, VIEWPORT, chromium_binary
from support.stack import require

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make test installs it)")

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "e2e"
SAVED: list[str] = []  # tests whose pages were screenshotted in this run

# Longer than Playwright's 5 s default: two CPUs run the stack and the browser together,
# often beside other test suites.
sync_api.expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def browser():
    executable = chromium_binary()
    require(executable is not None, "Chromium is not installed (make test installs it)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser, request):
    """open_page(base_url, **context_options) -> a page in a fresh browser context on that
    origin, allowed to use the clipboard, that records uncaught errors and CSP violations.
    At the end of the test each page is screenshotted into test-output/e2e/ and the test
    fails if any page reported a problem."""
    opened = []

    def open_(base_url: str, **options):
        context = browser.new_context(base_url=base_url, viewport=options.pop("viewport", VIEWPORT), **options)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
        context.set_default_timeout(15_000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"CSP: {message.text}") if "Content Security Policy" in message.text else None
            ),
        )
        opened.append((context, page, problems))
        return page

    yield open_

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    SAVED.append(request.node.name)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    reported = []
    for number, (context, page, problems) in enumerate(opened):
        suffix = f"-{number + 1}" if number else ""
        try:
            # From the top, or the sticky bar lands in the middle of a full-page shot.
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=SCREENSHOTS / f"{name}{suffix}.png", full_page=True)
        except sync_api.Error:
            pass  # closed or crashed: the test's own failure says more than a screenshot would
        reported += problems
        context.close()
    assert not reported, "the page reported problems:\n" + "\n".join(reported)


@pytest.fixture
def page(open_page, stack):
    """A fresh page on the stack (see open_page)."""
    return open_page(stack.base_url)


def pytest_terminal_summary(terminalreporter):
    if SAVED:
        terminalreporter.write_line(f"e2e screenshots of {len(SAVED)} tests: {SCREENSHOTS}")


@pytest.fixture(scope="module")
def blank_page(browser):
    """An empty page, shared by a module's tests that only ask the browser to decode images."""
    page = browser.new_page()
    yield page
    page.close()

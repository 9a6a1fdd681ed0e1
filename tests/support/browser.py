"""How the browser tests and the bench start Chromium: Debian's own, launched by path
(Playwright's browser downloads are not used), headless, with the same flags and window."""

from __future__ import annotations

import shutil

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1280, "height": 800}


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")

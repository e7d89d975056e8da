"""Headless Chromium from Debian's packages, driven by selenium, for the page's browser tests.

Started the way this machine needs (docs in the README, "Browser tests"):
headless, no sandbox (we run as root), no GPU, and none of Chromium's own
background traffic (update checks, sync, QUIC), which the closed network would
refuse, many times over, at every start; a fresh profile each time. The driver
is Debian's ``chromedriver`` by path, so selenium never tries to download one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")


def missing() -> str | None:
    """Why the browser cannot start here, or None (the set-up installs both packages)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(path) is None:
            return f"{path} is missing: `make browser` (deploy/local/servers.sh browser) installs Debian's chromium and chromium-driver"
    return None


@contextmanager
def chromium(downloads: Path, page_load_timeout: float = 30.0) -> Iterator[webdriver.Chrome]:
    """A headless Chromium that saves downloads into ``downloads``; quit afterwards, whatever happens."""
    profile = tempfile.mkdtemp(prefix="cg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(page_load_timeout)
        driver.set_script_timeout(page_load_timeout)
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

"""The report in a real headless Chromium (Debian's chromium + chromium-driver), opened from
file:// with no server: pages render, every link resolves, the graph draws, screenshots.

Set CLAIMLEDGER_SCREENSHOTS=DIR to also write the README screenshots into DIR
(docs/screenshots/ in the repository).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimledger.report.catalog import page_name
from tests.report.conftest import CITING

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1280,900",
)
GRAPH_TIMEOUT_S = 20


def chromium() -> tuple[str, str]:
    """Paths of the browser and its driver, or a skip that says how to get them."""
    browser = next((p for p in CHROMIUM if Path(p).exists()), shutil.which("chromium"))
    driver = DRIVER if Path(DRIVER).exists() else shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    return browser, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with a fresh profile and console logging."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, tmp_path: Path, name: str) -> Path:
    """Save a PNG under the test's tmp dir, and under $CLAIMLEDGER_SCREENSHOTS when set."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
    extra = os.environ.get("CLAIMLEDGER_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / path.name)
    return path


def severe_console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


PAGE_FACTS = """
return {
  title: document.title,
  h1: (document.querySelector('main h1') || {}).textContent || '',
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  images: Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0]),
};
"""


def loaded_page_facts(driver: Any, timeout_s: float = 10.0) -> dict[str, Any]:
    """PAGE_FACTS once every image has finished loading (or failed), or after `timeout_s`: on a
    busy machine Chromium may still be decoding a plot when the page's load returns."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    script = "return Array.from(document.images).every(i => i.complete)"
    with contextlib.suppress(TimeoutException):  # judged below: a broken image is named
        WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script(script))
    return driver.execute_script(PAGE_FACTS)


@pytest.mark.slow
def test_every_page_renders_and_every_link_resolves(site, browser, tmp_path: Path) -> None:
    _, out, result = site
    start = (out / "index.html").resolve().as_uri()
    seen, queue = {start}, deque([start])
    while queue:
        url = queue.popleft()
        browser.get(url)
        facts = loaded_page_facts(browser)
        assert facts["title"].endswith("claimledger") and facts["h1"].strip(), url
        broken = [src for src, ok in facts["images"] if not ok]
        assert not broken, f"{url}: images did not load: {broken}"
        for link in facts["links"]:
            target = link.split("#")[0]
            assert target.startswith("file://"), f"{url} links off the site: {link}"
            assert Path(target[len("file://") :]).exists(), f"{url}: broken link {link}"
            if target.endswith(".html") and target not in seen:
                seen.add(target)
                queue.append(target)
    assert len(seen) == result.pages
    assert severe_console_errors(browser) == []
    browser.get(start)
    screenshot(browser, tmp_path, "index")


def test_claim_page_shows_rendered_links_and_evidence(site, browser, tmp_path: Path) -> None:
    _, out, _ = site
    browser.get((out / "notes" / page_name(CITING)).as_uri())
    facts = browser.execute_script(
        "return {wikilinks: document.querySelectorAll('article a.wikilink').length,"
        " dangling: document.querySelectorAll('article .dangling').length,"
        " runs: document.querySelectorAll('section.runs tr').length,"
        " backlinks: document.querySelectorAll('section.backlinks li').length,"
        " table: document.querySelectorAll('article table').length}"
    )
    assert facts == {"wikilinks": 2, "dangling": 1, "runs": 4, "backlinks": 1, "table": 1}
    screenshot(browser, tmp_path, "claim")


def wait_for_graph(driver: Any) -> dict[str, Any]:
    deadline = time.monotonic() + GRAPH_TIMEOUT_S
    while time.monotonic() < deadline:
        state = driver.execute_script(
            "const cy = window.claimledgerGraph; if (!cy) return null;"
            "const painted = Array.from(document.querySelectorAll('#graph canvas')).some(c => {"
            "  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; });"
            "return {nodes: cy.nodes().length, edges: cy.edges().length,"
            " expected: window.CLAIMLEDGER_GRAPH.nodes.length, painted: painted};"
        )
        if state and state["painted"]:
            return state
        time.sleep(0.2)
    raise AssertionError("the graph did not draw in time")


def test_graph_draws_and_a_click_opens_the_note(site, browser, tmp_path: Path) -> None:
    _, out, _ = site
    browser.get((out / "graph.html").as_uri())
    state = wait_for_graph(browser)
    assert state["nodes"] == state["expected"] > 20 and state["edges"] > 20
    screenshot(browser, tmp_path, "graph")
    title = browser.execute_script(
        "const n = window.claimledgerGraph.nodes().filter(n => n.data('type') === 'claim')[0];"
        "n.emit('tap'); return n.data('label');"
    )
    deadline = time.monotonic() + 5
    while browser.title.startswith("Graph") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert browser.title == f"{title} · claimledger"
    assert severe_console_errors(browser) == []

"""The adoption map's pages in a real headless Chromium (Debian's chromium + chromedriver).

Opened as file:// URLs, as from a shared drive: no console errors (a blocked fetch or a
Content-Security-Policy violation would log one), the inline SVG charts are laid out with a
size, and hostile segment values and milestone names stay text (no script runs). Screenshots
land in ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from report.map_pages import page_file_names, render_map
from tests.report.conftest import ARTIFACTS, console_errors
from tests.report.test_map_pages import MILESTONES, SCRIPT, SEGMENTS, map_frames, map_meta

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("map-browser")]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("map-browser") / "map"
    index = render_map(out, map_frames(), map_meta())
    return {
        "index": index,
        "segments": page_file_names("segment", SEGMENTS),
        "milestones": page_file_names("milestone", [(m,) for m in MILESTONES]),
    }


def chart_sizes(driver: WebDriver) -> list[dict[str, Any]]:
    """Laid-out size of every SVG chart on the page."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('svg')).map(s => {"
        "const r = s.getBoundingClientRect();"
        "return {cls: s.getAttribute('class'), w: r.width, h: r.height}; });"
    )


def assert_charts_drawn(driver: WebDriver, expected: int) -> None:
    sizes = chart_sizes(driver)
    assert len(sizes) == expected, sizes
    assert all(s["w"] > 0 and s["h"] > 0 for s in sizes), sizes


def assert_no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when no alert is open


def screenshot(driver: WebDriver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 800), 3000))
    assert driver.save_screenshot(str(ARTIFACTS / name))
    driver.set_window_size(1400, 1000)


def test_index_loads_clean_with_its_charts(browser: WebDriver, site: dict[str, Any]) -> None:
    browser.get(site["index"].as_uri())
    browser.find_element(By.ID, "time-to-value")
    assert console_errors(browser) == []
    assert_no_alert(browser)
    assert_charts_drawn(browser, expected=len(MILESTONES))  # one small curve per milestone
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.cif.mini polygon.band")) == 2
    rows = browser.find_elements(By.CSS_SELECTOR, "table.segments-table tbody tr")
    assert len(rows) == len(SEGMENTS)
    screenshot(browser, "map-index.png")


def test_a_hostile_segment_opens_from_the_index(browser: WebDriver, site: dict[str, Any]) -> None:
    browser.get(site["index"].as_uri())
    links = browser.find_elements(By.CSS_SELECTOR, "table.segments-table td.seg-value a")
    [link] = [a for a in links if a.text == SCRIPT]  # the value is text, not a script
    link.click()
    file = site["segments"][("industry", SCRIPT)]
    assert browser.current_url.endswith("/" + file)
    assert browser.find_element(By.CSS_SELECTOR, "#segment-title .seg-value").text == SCRIPT
    assert console_errors(browser) == []
    assert_no_alert(browser)
    assert_charts_drawn(browser, expected=len(MILESTONES))  # one cohort trend per milestone
    assert browser.find_elements(By.CSS_SELECTOR, "svg.cohort polygon.band")
    screenshot(browser, "map-segment.png")
    browser.find_element(By.CSS_SELECTOR, "a.back").click()
    assert browser.current_url.endswith("/index.html")


def test_milestone_page_draws_the_curve_and_counts(
    browser: WebDriver, site: dict[str, Any]
) -> None:
    index = site["index"]
    browser.get((index.parent / site["milestones"][("first_workflow",)]).as_uri())
    assert browser.find_element(By.ID, "milestone-title").text == "First workflow"
    assert console_errors(browser) == []
    assert_charts_drawn(browser, expected=1)
    for part in ("polyline.reached", "polyline.churn", "polygon.band"):
        assert browser.find_element(By.CSS_SELECTOR, f"svg.cif {part}").is_displayed(), part
    cells = browser.find_elements(By.CSS_SELECTOR, "#at-risk td[data-day]")
    assert [c.text for c in cells] == ["100", "84", "66", "48", "30"]  # days 0, 30, .., 120
    screenshot(browser, "map-milestone.png")
    # the hostile milestone's page too: its name is a heading, nothing runs
    browser.get((index.parent / site["milestones"][(SCRIPT,)]).as_uri())
    assert browser.find_element(By.ID, "milestone-title").text == SCRIPT
    assert console_errors(browser) == []
    assert_no_alert(browser)
    assert_charts_drawn(browser, expected=1)

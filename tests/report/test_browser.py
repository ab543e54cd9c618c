"""The report in a real headless Chromium (Debian's chromium + chromedriver, never downloaded).

One browser and one rendered report per module (xdist keeps the group on one worker). Pages are
opened as file:// URLs, exactly as a CSM opens them from a shared drive. Screenshots land in
``test-artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from report.render import account_file_name, render_report
from report.sample import sample_inputs
from tests.report.conftest import ARTIFACTS, console_errors

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("report-browser")]

N_ACCOUNTS = 60
ODD_ID = "Ünïcode & <Co>/7"  # must survive escaping, a hashed file name and a click


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    inputs = sample_inputs(N_ACCOUNTS, seed=7)
    rename = pl.col("account_id").replace({"ACC-00003": ODD_ID})
    for key in ("scores", "explanations", "history", "usage", "milestones"):
        inputs[key] = inputs[key].with_columns(rename)
    index = render_report(tmp_path_factory.mktemp("browser") / "report", **inputs)
    return {"index": index, **inputs}


def visible_ids(driver: WebDriver) -> list[str]:
    """Account ids of the rows the browser actually lays out, in on-screen order."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#accounts tbody tr'))"
        ".filter(r => r.offsetParent !== null).map(r => r.getAttribute('data-account-id'));"
    )


def shown_count(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "shown-n").text)


def click_sort(driver: WebDriver, key: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f'th[data-sort="{key}"] button').click()


def screenshot(driver: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(height, 800), 2400))
    path = ARTIFACTS / name
    assert driver.save_screenshot(str(path))
    driver.set_window_size(1400, 1000)
    return path


def open_portfolio(driver: WebDriver, report: dict[str, Any]) -> None:
    driver.get(report["index"].as_uri())
    driver.find_element(By.ID, "accounts")


def test_portfolio_loads_clean_with_every_account(
    browser: WebDriver, report: dict[str, Any]
) -> None:
    open_portfolio(browser, report)
    assert console_errors(browser) == []
    scores = report["scores"]
    assert visible_ids(browser) == scores.sort("rank")["account_id"].to_list()
    assert shown_count(browser) == scores.height == N_ACCOUNTS
    assert browser.find_element(By.ID, "total-n").text == str(N_ACCOUNTS)
    assert (
        browser.find_element(By.CSS_SELECTOR, 'th[data-sort="rank"]').get_attribute("aria-sort")
        == "ascending"
    )
    shot = screenshot(browser, "report-portfolio.png")
    assert shot.stat().st_size > 10_000


def test_sorting_by_headers(browser: WebDriver, report: dict[str, Any]) -> None:
    open_portfolio(browser, report)
    s = report["scores"]
    by_rank = pl.col("rank")

    click_sort(browser, "risk")  # first click: riskiest first
    assert (
        visible_ids(browser)
        == s.sort(["decay_risk", "rank"], descending=[True, False])["account_id"].to_list()
    )
    th = browser.find_element(By.CSS_SELECTOR, 'th[data-sort="risk"]')
    assert th.get_attribute("aria-sort") == "descending"

    click_sort(browser, "risk")  # second click reverses
    assert (
        visible_ids(browser)
        == s.sort(["decay_risk", "rank"], descending=[False, False])["account_id"].to_list()
    )
    assert th.get_attribute("aria-sort") == "ascending"

    click_sort(browser, "change")  # biggest rise first, accounts with no previous run last
    known = (
        s.filter(pl.col("risk_change").is_not_null())
        .sort(["risk_change", "rank"], descending=[True, False])["account_id"]
        .to_list()
    )
    new = s.filter(pl.col("risk_change").is_null()).sort(by_rank)["account_id"].to_list()
    assert new, "the sample must contain accounts without a previous run"
    assert visible_ids(browser) == known + new

    click_sort(browser, "account")
    assert visible_ids(browser) == sorted(s["account_id"].to_list())
    click_sort(browser, "account")
    assert visible_ids(browser) == sorted(s["account_id"].to_list(), reverse=True)

    click_sort(browser, "rank")
    assert visible_ids(browser) == s.sort(by_rank)["account_id"].to_list()
    assert console_errors(browser) == []


def test_filtering_by_segment_and_tier(browser: WebDriver, report: dict[str, Any]) -> None:
    open_portfolio(browser, report)
    s = report["scores"].sort("rank")

    Select(browser.find_element(By.ID, "filter-industry")).select_by_value("retail")
    retail = s.filter(pl.col("industry") == "retail")["account_id"].to_list()
    assert 0 < len(retail) < s.height
    assert visible_ids(browser) == retail
    assert shown_count(browser) == len(retail)

    Select(browser.find_element(By.ID, "filter-tier")).select_by_value("high")
    both = s.filter((pl.col("industry") == "retail") & (pl.col("risk_tier") == "high"))[
        "account_id"
    ].to_list()
    assert visible_ids(browser) == both
    assert shown_count(browser) == len(both)

    Select(browser.find_element(By.ID, "filter-industry")).select_by_value("")
    high = s.filter(pl.col("risk_tier") == "high")["account_id"].to_list()
    assert visible_ids(browser) == high and shown_count(browser) == len(high)

    # filters and sorting compose: low-risk enterprise accounts, riskiest first
    Select(browser.find_element(By.ID, "filter-tier")).select_by_value("low")
    Select(browser.find_element(By.ID, "filter-size-tier")).select_by_value("enterprise")
    click_sort(browser, "risk")
    low_ent = s.filter((pl.col("risk_tier") == "low") & (pl.col("size_tier") == "enterprise"))
    assert (
        visible_ids(browser)
        == low_ent.sort(["decay_risk", "rank"], descending=[True, False])["account_id"].to_list()
    )

    browser.find_element(By.ID, "reset").click()
    assert visible_ids(browser) == s["account_id"].to_list()
    assert shown_count(browser) == s.height
    assert console_errors(browser) == []


def test_account_page_shows_drivers_and_next_step(
    browser: WebDriver, report: dict[str, Any]
) -> None:
    open_portfolio(browser, report)
    top = report["scores"].sort("rank").row(0, named=True)
    browser.find_element(
        By.CSS_SELECTOR, f'tr[data-rank="1"] a[href="accounts/{top["account_id"]}.html"]'
    ).click()
    assert browser.current_url.endswith(f"/accounts/{top['account_id']}.html")
    assert console_errors(browser) == []

    headline = browser.find_element(By.ID, "risk-headline").text
    assert headline == f"Decay risk {top['decay_risk'] * 100:.0f}% — {top['risk_tier']}"
    assert browser.find_element(By.CSS_SELECTOR, "#next-step p").text == top["next_best_action"]

    expl = (
        report["explanations"]
        .filter(pl.col("account_id") == top["account_id"])
        .sort("contribution", descending=True)
    )
    items = browser.find_elements(By.CSS_SELECTOR, "#drivers li[data-feature]")
    assert [i.get_attribute("data-feature") for i in items] == expl["feature"].to_list()
    assert [i.find_element(By.CLASS_NAME, "sentence").text for i in items] == expl[
        "sentence"
    ].to_list()
    assert [i.get_attribute("data-direction") for i in items] == expl["direction"].to_list()
    assert all(i.find_element(By.TAG_NAME, "svg").is_displayed() for i in items)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#milestones li[data-status]")) == 4
    screenshot(browser, "report-account.png")

    browser.find_element(By.CSS_SELECTOR, "a.back").click()
    assert browser.current_url.endswith("/index.html")
    assert shown_count(browser) == N_ACCOUNTS


def test_account_with_unusual_id_opens(browser: WebDriver, report: dict[str, Any]) -> None:
    open_portfolio(browser, report)
    link = browser.find_element(By.CSS_SELECTOR, "tr[data-account-id] td.acct a[href*='Co']")
    assert link.text == ODD_ID
    link.click()
    assert browser.current_url.endswith("/accounts/" + account_file_name(ODD_ID))
    assert browser.find_element(By.ID, "account-id").text == ODD_ID
    assert console_errors(browser) == []


def test_paging_lists_a_page_at_a_time(
    browser: WebDriver, report: dict[str, Any], tmp_path: Path
) -> None:
    inputs = {
        k: report[k] for k in ("scores", "explanations", "history", "usage", "milestones", "meta")
    }
    index = render_report(tmp_path / "paged", **inputs, page_size=25)
    browser.get(index.as_uri())
    s = report["scores"].sort("rank")
    ids = s["account_id"].to_list()
    assert visible_ids(browser) == ids[:25]
    assert shown_count(browser) == N_ACCOUNTS  # the count is of matching rows, not of a page
    more = browser.find_element(By.ID, "show-more")
    assert more.is_displayed()
    more.click()
    assert visible_ids(browser) == ids[:50]
    more.click()
    assert visible_ids(browser) == ids and not more.is_displayed()

    click_sort(browser, "risk")  # sorting keeps what is listed; the page covers all 60 now
    assert len(visible_ids(browser)) == N_ACCOUNTS
    Select(browser.find_element(By.ID, "filter-tier")).select_by_value("low")  # back to one page
    low = s.filter(pl.col("risk_tier") == "low").sort(
        ["decay_risk", "rank"], descending=[True, False]
    )
    assert low.height > 0
    assert visible_ids(browser) == low["account_id"].to_list()[:25]
    assert shown_count(browser) == low.height
    assert console_errors(browser) == []

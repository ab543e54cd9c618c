"""Hand-made report inputs: three accounts whose every number is known, one with a hostile id."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

HOSTILE_ID = "acme <b>&\"co'/../x"


def tiny_inputs() -> dict[str, Any]:
    """Three accounts, ranks 1..3: A1 (high, +5 pts), the hostile id (medium, new), Z-9 (low)."""
    ids = ["A1", HOSTILE_ID, "Z-9"]
    scores = pl.DataFrame(
        {
            "account_id": ids,
            "as_of": [date(2026, 11, 1)] * 3,
            "industry": ["fintech", "retail & <more>", "fintech"],
            "size_tier": ["smb", "mid", "smb"],
            "decay_risk": [0.72, 0.40, 0.10],
            "risk_tier": ["high", "medium", "low"],
            "rank": [1, 2, 3],
            "previous_risk": [0.67, None, 0.131],
            "risk_change": [0.05, None, -0.031],
            "model_version": ["3", "3", "3"],
            "driver_1": ["active_admins_28d", "support_tickets_28d", "seats_used"],
            "driver_1_text": [
                "Active admins fell from 4 to 1 in the last 28 days; accounts like this one have 3.",
                "Support tickets <script>alert(1)</script> doubled.",
                "Seats used is 9; peers have 10.",
            ],
            "next_best_action": [
                "Call the new admin & re-run onboarding.",
                "Review the open tickets with the team.",
                "No action needed.",
            ],
        }
    )
    explanations = pl.DataFrame(
        {
            "account_id": ["A1", "A1", "A1", "A1", "A1", HOSTILE_ID, "Z-9"],
            "feature": [
                "active_admins_28d",
                "workflows_7d",
                "support_tickets_28d",
                "integrations_connected",
                "features_used_28d",
                "support_tickets_28d",
                "seats_used",
            ],
            "family": ["role", "activity", "friction", "breadth", "breadth", "friction", "breadth"],
            "value": [1.0, 2.0, 5.0, 4.0, 12.5, 9.0, 9.0],
            "peer_median": [3.0, 10.0, 1.0, 2.0, 8.0, 2.0, 10.0],
            # A1's rows are deliberately not in contribution order: the report sorts them.
            "contribution": [0.9, 0.3, 0.6, -0.2, -0.45, 0.4, 0.05],
            "rank": [1, 3, 2, 2, 1, 1, 1],
            "direction": ["risk", "risk", "risk", "protective", "protective", "risk", "risk"],
            "sentence": [
                "Active admins fell from 4 to 1 in the last 28 days; accounts like this one have 3.",
                "2 workflows ran last week; peers ran 10.",
                "5 support tickets in 28 days; peers opened 1.",
                "4 integrations connected; peers have 2.",
                "12.5 features used; peers use 8.",
                "Support tickets <script>alert(1)</script> doubled.",
                "Seats used is 9; peers have 10.",
            ],
        }
    )
    history = pl.DataFrame(
        {
            "account_id": ["A1", "A1", "A1", HOSTILE_ID, "Z-9", "Z-9"],
            "as_of": [
                date(2026, 10, 18),
                date(2026, 10, 25),
                date(2026, 11, 1),
                date(2026, 11, 1),
                date(2026, 10, 25),
                date(2026, 11, 1),
            ],
            "decay_risk": [0.5, 0.67, 0.72, 0.40, 0.131, 0.10],
        }
    )
    weeks = [date(2026, 10, 4), date(2026, 10, 11), date(2026, 10, 18), date(2026, 10, 25)]
    usage = pl.DataFrame(
        {
            "account_id": ["A1"] * 4 + ["Z-9"] * 4,
            "week_start": weeks * 2,
            "active_users": [12, 10, 7, 4, 20, 21, 19, 22],
            "usage_events": [300, 250, 120, 60, 500, 520, 480, 530],
        }
    )
    milestones = pl.DataFrame(
        {
            "account_id": ["A1", "A1", "A1", "A1"],
            "milestone": ["first_dashboard", "first_workflow", "first_integration", "five_users"],
            "description": [
                "Created a first dashboard",
                "Launched a first automation",
                "Connected a first integration",
                "Five people active in one week",
            ],
            "expected_days": [7, 21, 30, 45],
            "reached_on": [date(2026, 3, 5), date(2026, 4, 2), None, None],
            "days_to_reach": [4, 32, 60, 20],
            "status": ["reached", "late", "missing", "pending"],
        }
    )
    meta = {
        "as_of": date(2026, 11, 1),
        "model_version": "3",
        "model_uri": "models:/adoption-decay@champion",
        "segments": ["industry", "size_tier"],
        "n_accounts": 3,
        "tier_counts": {"high": 1, "medium": 1, "low": 1},
        "generated_at": "2026-11-01 06:00 UTC",
        "tier_thresholds": {"high": 0.5, "medium": 0.25},
    }
    return {
        "scores": scores,
        "explanations": explanations,
        "history": history,
        "usage": usage,
        "milestones": milestones,
        "meta": meta,
    }


@pytest.fixture
def tiny() -> dict[str, Any]:
    return tiny_inputs()


# -- a real headless Chromium for the page tests (Debian's chromium + chromedriver) ----------
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.TemporaryDirectory(prefix="chromium-profile-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={profile.name}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path means selenium-manager is never consulted (no downloads).
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        profile.cleanup()


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """Console messages at SEVERE level since the last call (CSP violations land here too)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

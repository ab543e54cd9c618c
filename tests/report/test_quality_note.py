"""The footer's model-quality sentence: measured against the baselines, with support, or loudly
unevaluated."""

from __future__ import annotations

from report.render import quality_note

EV = {
    "evaluated": True,
    "served": "lightgbm",
    "n": 3577,
    "positives": 158,
    "lightgbm": {"roc_auc": 0.9012, "pr_auc": 0.44},
    "baselines": {
        "recency": {"roc_auc": 0.70},
        "event_counts": {"roc_auc": 0.75},
        "unknown": {"roc_auc": 0.99},
    },
}


def test_lightgbm_served_names_the_best_known_baseline_and_the_support() -> None:
    assert quality_note(EV) == (
        "Test ROC-AUC 0.90 on 3,577 held-out rows (158 positives), against 0.75 for the best "
        "simple baseline (a logistic regression on recent counts per event type)."
    )


def test_a_served_baseline_says_why() -> None:
    note = quality_note({**EV, "served": "event_counts", "lightgbm": {"roc_auc": 0.70}})
    assert note.startswith("Ranked by a logistic regression on recent counts per event type")
    assert "(ROC-AUC 0.75 vs 0.70), so it is what is served." in note


def test_unevaluated_and_missing() -> None:
    assert "UNEVALUATED" in quality_note({"evaluated": False})
    assert quality_note({}) == ""

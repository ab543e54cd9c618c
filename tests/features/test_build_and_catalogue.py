"""build_dataset / build_features contract, the catalogue, the fingerprint, events-only sources."""

from __future__ import annotations

import logging
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from core.config import load_config
from core.errors import ConfigValueError, NoEligibleAccountsError
from features.build import build_dataset, build_features, dataset_fingerprint, feature_columns
from features.catalogue import FAMILIES, expand_patterns, render_catalogue
from tests.features.helpers import scenario

CFG = load_config(["snapshot.as_of=2026-03-08", "snapshot.count=3", "snapshot.every_days=7"])


@pytest.fixture(scope="module")
def built():
    return build_dataset(scenario(), CFG)


def test_dataset_contract(built):
    ds, _ = built
    assert ds.columns[:2] == ["account_id", "cutoff"] and ds.columns[-1] == "label"
    assert ds.schema["label"] == pl.Int8
    assert sorted(ds["cutoff"].unique().to_list()) == [
        date(2026, 2, 22),
        date(2026, 3, 1),
        date(2026, 3, 8),
    ]
    assert ds.select("account_id", "cutoff").is_unique().all()


def test_every_feature_has_a_catalogue_entry(built):
    ds, cat = built
    feats = feature_columns(ds, CFG.data.segments)
    assert list(cat) == feats
    for entry in cat.values():
        assert entry["family"] in FAMILIES
        assert entry["higher_is"] in ("healthier", "riskier")
        assert "{value}" in entry["sentence"]


def test_families_are_switchable_and_catalogue_follows():
    cfg = CFG.copy()
    cfg.features.families = ["activity", "friction"]
    ds, cat = build_dataset(scenario(), cfg)
    assert {e["family"] for e in cat.values()} == {"activity", "friction"}
    assert "active_admins_28d" not in ds.columns and "integration_errors_28d" in ds.columns


def test_build_features_matches_build_dataset_at_one_cutoff(built):
    ds, _ = built
    one = build_features(scenario(), [date(2026, 3, 1)], CFG)
    assert_frame_equal(one, ds.filter(pl.col("cutoff") == date(2026, 3, 1)).drop("label"))


def test_events_only_source_builds_and_logs_each_missing_family_once(caplog):
    with caplog.at_level(logging.INFO, logger="adoption_decay"):
        ds, cat = build_dataset(scenario(with_users=False, with_accounts=False), CFG)
    assert ds.height > 0 and ds.columns[:3] == ["account_id", "cutoff", "maturity_stage"]
    fams = {e["family"] for e in cat.values()}
    assert not fams & {"role", "lifecycle", "milestones"}
    assert {"activity", "trends", "breadth", "onboarding", "friction", "peer"} <= fams
    assert "share_of_seats_active_28d" not in ds.columns
    for fam in ("role", "lifecycle", "milestones"):
        assert sum(f"family '{fam}' left out" in r.getMessage() for r in caplog.records) == 1


def test_no_eligible_rows_is_a_clear_error():
    cfg = CFG.copy()
    cfg.snapshot.as_of = "2020-01-01"
    with pytest.raises(NoEligibleAccountsError, match="no eligible accounts"):
        build_dataset(scenario(), cfg)


def test_unknown_family_is_a_config_error():
    cfg = CFG.copy()
    cfg.features.families = ["activity", "vibes"]
    with pytest.raises(ConfigValueError, match="vibes"):
        build_dataset(scenario(), cfg)


def test_catalogue_expansion_and_sentences():
    cat = expand_patterns(CFG.catalogue, CFG.features)
    e = cat["active_admins_28d"]
    assert e["family"] == "role" and e["higher_is"] == "healthier"
    assert "{active_admins_prev_28d}" in e["sentence"]
    assert "14 days" in cat["first_integration_delay_vs_expected"]["description"]
    # the row's numbers are filled at scoring time (scoring.sentences)
    assert e["sentence"] == (
        "Active admins went from {active_admins_prev_28d} to {value} in the last 28 days; "
        "{entities} like this one have {peer}."
    )


def test_peer_percentile_inherits_the_direction_of_its_metric():
    fcfg = CFG.features.copy()
    fcfg.peer_metrics = ["active_users_28d", "integration_errors_28d"]
    cat = expand_patterns(CFG.catalogue, fcfg)
    assert cat["integration_errors_28d_peer_pct"]["higher_is"] == "riskier"
    assert cat["active_users_28d_peer_pct"]["higher_is"] == "healthier"


def test_catalogue_errors_name_the_problem():
    with pytest.raises(ConfigValueError, match="without a catalogue entry"):
        render_catalogue(["mystery_feature"], CFG.catalogue, CFG.features)
    bad = {
        "x_{colour}": {
            "family": "activity",
            "unit": "u",
            "description": "d",
            "sentence": "{value}",
            "higher_is": "healthier",
        }
    }
    with pytest.raises(ConfigValueError, match="colour"):
        expand_patterns(bad, CFG.features)
    bad = {
        "x": {
            "family": "vibes",
            "unit": "u",
            "description": "d",
            "sentence": "{value}",
            "higher_is": "healthier",
        }
    }
    with pytest.raises(ConfigValueError, match="vibes"):
        expand_patterns(bad, CFG.features)


def test_fingerprint_is_stable_and_tracks_the_relevant_sections():
    a = dataset_fingerprint(load_config([]))
    assert a == dataset_fingerprint(load_config([]))
    assert a == dataset_fingerprint(load_config(["model.num_boost_round=5"]))  # not a data section
    for over in (
        ["label=inactivity"],
        ["features.windows_days=[7]"],
        ["snapshot.count=3"],
        ["data.dir=elsewhere"],
    ):
        assert dataset_fingerprint(load_config(over)) != a


def test_constant_features_are_left_out_unless_a_sentence_quotes_them():
    from features.build import drop_constant_features

    ds = pl.DataFrame(
        {
            "account_id": ["a", "b", "c"],
            "x": [1.0, 1.0, 1.0],
            "y": [1.0, 2.0, 3.0],
            "z": [0.0, 0.0, None],
            "q": [5.0, 5.0, 5.0],
        }
    )
    cat = {
        "x": {"sentence": "{value}"},
        "y": {"sentence": "{value} vs {q}"},
        "z": {"sentence": "{value}"},
        "q": {"sentence": "{value}"},
    }
    out, cat2, dropped = drop_constant_features(ds, cat)
    assert dropped == ["x"]  # q is constant but y's sentence quotes it; z has a null
    assert out.columns == ["account_id", "y", "z", "q"] and "x" not in cat2

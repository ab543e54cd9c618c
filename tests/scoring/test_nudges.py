"""Nudges from the adoption map (scoring/nudges.py): exact texts and numbers on hand-made frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from core.errors import ConfigValueError
from scoring.nudges import (
    EVIDENCE_COLUMN,
    NUDGE_COLUMNS,
    NUDGE_SCHEMA,
    account_nudges,
    empty_nudges,
    journey_at,
    lookback_words,
    playbook_evidence,
    with_nudges,
)
from scoring.playbook import validate_playbook
from scoring.score import crm_table

MILESTONES = [
    {"name": "first_integration", "events": ["integration_connected"]},
    {"name": "first_workflow", "events": ["workflow_completed"]},
    {"name": "first_automation", "events": ["automation_launched"]},
]


def _progress(
    rows: list[tuple[str, str, str, int, bool, str | None, float | None]],
) -> pl.DataFrame:
    """(account_id, segment, milestone, order, reached, curve_segment, late_percentile) rows;
    is_next = the first not reached in order (as adoption.progress.milestone_progress)."""
    frame = pl.DataFrame(
        rows,
        schema={
            "account_id": pl.String,
            "segment": pl.String,
            "milestone": pl.String,
            "order": pl.Int64,
            "reached": pl.Boolean,
            "curve_segment": pl.String,
            "late_percentile": pl.Float64,
        },
        orient="row",
    )
    first_open = pl.col("order").filter(~pl.col("reached")).min().over("account_id")
    return frame.with_columns(
        (~pl.col("reached") & (pl.col("order") == first_open)).alias("is_next")
    )


def _three(aid: str, seg: str, reached: tuple[bool, bool, bool], late: float | None, curve: str):
    names = ["first_integration", "first_workflow", "first_automation"]
    return [
        (aid, seg, m, i + 1, r, curve, None if r else late)
        for i, (m, r) in enumerate(zip(names, reached, strict=True))
    ]


PROGRESS = _progress(
    _three("A", "smb", (True, True, False), 0.7, "smb")
    + _three("B", "smb", (True, True, True), None, "smb")
    + _three("C", "mid", (False, False, False), 0.2, "all")
    + [("F", "smb", "first_integration", 1, False, "smb", 1.0)]
)
GAPS = pl.DataFrame(
    {
        "account_id": ["A", "A", "A", "A", "D"],
        "segment": ["smb"] * 5,
        "event": ["api_call", "report_created", "dashboard_viewed", "export_done", "workflow_ran"],
        "peer_share": [0.6, 0.9, 0.8, 0.5, 0.75],
    }
)


def test_nudge_columns_say_where_the_account_stands_and_what_peers_did() -> None:
    out = account_nudges(["A", "B", "C", "D", "E", "F"], PROGRESS, GAPS)
    assert out["account_id"].to_list() == ["A", "B", "C", "D", "E", "F"]
    assert dict(out.schema) == {"account_id": pl.String(), **NUDGE_SCHEMA}
    assert out["milestones_reached"].to_list() == [2, 3, 0, None, None, 0]
    assert out["milestones_total"].to_list() == [3, 3, 3, None, None, 1]
    assert out["next_milestone"].to_list() == [
        "first automation",
        None,
        "first integration",
        None,
        None,
        "first integration",
    ]
    assert out["next_milestone_late_pct"].to_list() == [70.0, None, 20.0, None, None, 100.0]
    # up to 3, most widespread first, humanised
    assert out["peer_gap_events"].to_list() == [
        "report created, dashboard viewed, api call",
        None,
        None,
        "workflow ran",
        None,
        None,
    ]
    assert out["nudge"].to_list() == [
        "2 of 3 steps done; next: first automation — later than 70% of smb accounts that got "
        "there. Accounts like yours used report created, dashboard viewed and api call in the "
        "last 2 weeks.",
        "3 of 3 steps done.",
        "0 of 3 steps done; next: first integration — on pace: most accounts that got there "
        "took longer.",
        "Accounts like yours used workflow ran in the last 2 weeks.",
        None,
        "0 of 1 step done; next: first integration — later than every smb account that got there.",
    ]


def test_nudge_words_follow_the_entity_and_the_lookback() -> None:
    out = account_nudges(
        ["A", "D"],
        PROGRESS,
        GAPS,
        entity=("customer", "customers"),
        max_events=2,
        lookback_days=7,
    )
    assert out["nudge"].to_list() == [
        "2 of 3 steps done; next: first automation — later than 70% of smb customers that got "
        "there. Customers like yours used report created and dashboard viewed in the last week.",
        "Customers like yours used workflow ran in the last week.",
    ]
    assert [lookback_words(d) for d in (1, 7, 10, 14, 28)] == [
        "day",
        "week",
        "10 days",
        "2 weeks",
        "4 weeks",
    ]
    with pytest.raises(ValueError, match="max_events"):
        account_nudges(["A"], PROGRESS, GAPS, max_events=0)


def test_without_a_map_every_column_is_null_and_nothing_fails() -> None:
    out = account_nudges(["A", "B"], None, None)
    assert out.equals(empty_nudges(["A", "B"]))
    assert out.null_count().row(0) == (0, 2, 2, 2, 2, 2, 2)
    ev = playbook_evidence(["A", "B"], None, None, MILESTONES, segment_column="size_tier")
    assert ev.columns == ["account_id", EVIDENCE_COLUMN]
    assert ev[EVIDENCE_COLUMN].to_list() == [None, None]
    # an empty map table (a log the map could not read) is no map
    ev = playbook_evidence(["A"], PROGRESS, pl.DataFrame(), MILESTONES, segment_column="size_tier")
    assert ev[EVIDENCE_COLUMN].to_list() == [None]


TOP = pl.DataFrame(
    {
        "segment_column": ["size_tier", "size_tier", "size_tier", "all"],
        "segment": ["smb", "smb", "mid", "all"],
        "kind": ["milestone", "milestone", "event", "milestone"],
        "item": ["first_integration", "first_workflow", "first_integration", "first_workflow"],
        "label": [
            "reached first integration in the first 14 days",
            "reached first workflow in the first 30 days",
            "did first integration in the first 7 days",
            "reached first workflow in the first 30 days",
        ],
        "rate_ratio": [1.44, 1.8, 2.0, 1.5],
        "rr_low": [1.1, 1.2, 1.5, 1.3],
        "rr_high": [1.8, 2.5, 2.6, 1.7],
        "replicates": [True, False, True, True],
    }
)


def _evidence_progress() -> pl.DataFrame:
    # smb: S1 and S4 lack the first milestone (2 of 4: 50%), S2 only the second, S3 has all.
    return _progress(
        _three("S1", "smb", (False, False, False), 0.4, "smb")
        + _three("S2", "smb", (True, False, False), 0.4, "smb")
        + _three("S3", "smb", (True, True, True), None, "smb")
        + _three("S4", "smb", (False, True, False), 0.4, "smb")
        + _three("M1", "mid", (False, False, False), 0.4, "mid")
    )


def test_next_step_evidence_quotes_the_replicated_finding_of_its_segment() -> None:
    ids = ["S1", "S2", "S3", "S4", "M1", "X"]
    out = playbook_evidence(ids, _evidence_progress(), TOP, MILESTONES, segment_column="size_tier")
    sentence = (
        "In smb accounts, those that reached first integration in the first 14 days went on to "
        "succeed 1.4x as often (95% CI 1.1–1.8x); 50% of yours have not done so yet."
    )
    # S2's next milestone (first workflow) has no replicated smb finding: the all-accounts one,
    # with the share over all five accounts (S1, S2, M1 lack it: 60%); S3 has nothing left;
    # M1's next (first integration) has only an event finding in mid and none for all accounts;
    # X is not in the progress.
    fallback = (
        "In all accounts, those that reached first workflow in the first 30 days went on to "
        "succeed 1.5x as often (95% CI 1.3–1.7x); 60% of yours have not done so yet."
    )
    assert out[EVIDENCE_COLUMN].to_list() == [sentence, fallback, None, sentence, None, None]


def test_next_step_evidence_template_and_level_come_from_config() -> None:
    out = playbook_evidence(
        ["S1"],
        _evidence_progress(),
        TOP,
        MILESTONES,
        segment_column="size_tier",
        template="{segment}/{entities}: {ratio} ({level}%: {low}-{high}), {share_not}",
        entity=("customer", "customers"),
        conf_level=0.9,
    )
    assert out[EVIDENCE_COLUMN].to_list() == ["smb/customers: 1.4 (90%: 1.1-1.8), 50%"]
    with pytest.raises(ValueError, match=r"unknown placeholder \{driver\}"):
        playbook_evidence(
            ["S1"],
            _evidence_progress(),
            TOP,
            MILESTONES,
            segment_column="size_tier",
            template="{driver}",
        )
    with pytest.raises(ConfigValueError, match=r"playbook\.evidence has unknown placeholders"):
        validate_playbook({"default": "x", "rules": {}, "evidence": "{driver} {ratio}"})


def test_journey_at_reads_only_events_before_the_cutoff() -> None:
    """Six smb accounts; five did report_created in the last 14 days, A0 never did (a peer gap);
    A0 reached first_integration; A1 reaches it only AT the cutoff (not counted)."""
    cutoff = datetime(2026, 11, 1, tzinfo=UTC)
    start = cutoff - timedelta(days=40)
    ids = [f"A{i}" for i in range(6)]
    accounts = pl.DataFrame(
        {
            "account_id": ids,
            "created_at": [start] * 6,
            "size_tier": ["smb"] * 6,
        }
    )
    rows = [("A0", start + timedelta(days=2), "integration_connected")]
    rows += [("A0", cutoff - timedelta(days=1), "dashboard_viewed")]
    rows += [(a, cutoff - timedelta(days=3), "report_created") for a in ids[1:]]
    rows += [("A1", cutoff, "integration_connected")]
    events = pl.DataFrame(
        rows, schema=["account_id", "timestamp", "event"], orient="row"
    ).with_columns(
        pl.col("timestamp").dt.cast_time_unit("us"), pl.col("account_id").alias("user_id")
    )
    accounts = accounts.with_columns(pl.col("created_at").dt.cast_time_unit("us"))
    curve = pl.DataFrame(
        {
            "segment_column": ["all", "all"],
            "segment": ["all", "all"],
            "milestone": ["first_integration", "first_integration"],
            "day": [5, 20],
            "cif": [0.25, 0.5],
        }
    )
    progress, gaps = journey_at(
        events,
        accounts,
        MILESTONES[:1],
        curve,
        ["A0", "A1"],
        cutoff=cutoff,
        segment="size_tier",
        key_events=["report_created", "dashboard_viewed"],
        min_peers=5,
    )
    assert progress is not None and gaps is not None
    assert progress.select("account_id", "reached", "late_percentile").rows() == [
        ("A0", True, None),
        ("A1", False, 1.0),  # 40 days old: every reacher had reached it by day 20
    ]
    assert gaps.select("account_id", "event", "n_peers", "n_peers_did").rows() == [
        ("A0", "report_created", 5, 5)
    ]
    # no milestones: no progress, the peer gaps still come
    progress, gaps = journey_at(
        events, accounts, [], curve, ["A0"], cutoff=cutoff, segment="size_tier", min_peers=5
    )
    assert progress is None and gaps is not None and gaps.height == 1


def test_nudge_columns_go_last_in_the_crm_export(
    model, frame, catalogue, playbook, milestones
) -> None:
    from tests.scoring.test_score import SEGMENTS, _score

    scores = _score(model, frame, catalogue, playbook, milestones).scores
    ids = scores["account_id"]
    nudges = account_nudges(ids, None, GAPS.with_columns(pl.lit(ids[0]).alias("account_id")))
    evidence = playbook_evidence(ids, None, None, MILESTONES, segment_column=None)
    out = with_nudges(scores, nudges, evidence)
    # the scores themselves are untouched, row for row
    assert out.select(scores.columns).equals(scores)
    crm = crm_table(out, SEGMENTS, 3, 2)
    assert crm.columns[-8:] == ["next_best_action", *NUDGE_COLUMNS, EVIDENCE_COLUMN]
    assert crm["peer_gap_events"][0] == "report created, dashboard viewed, workflow ran"
    assert crm["peer_gap_events"][1:].null_count() == scores.height - 1
    assert crm_table(scores, SEGMENTS, 3, 2).columns[-1] == "next_best_action"


def test_the_scoring_job_without_a_map_or_with_a_broken_one_gets_null_columns(
    tmp_path, cfg
) -> None:
    """pipelines.score.map_nudges: no map folder -> nulls; an unreadable map -> nulls, no error."""
    from datetime import date
    from types import SimpleNamespace

    from pipelines.score import map_nudges

    scores = pl.DataFrame({"account_id": ["A", "B"]})
    tables = SimpleNamespace(events=pl.DataFrame(), accounts=None)
    kw = {
        "scores": scores,
        "milestones": MILESTONES,
        "as_of": date(2026, 11, 1),
        "segments": [],
        "playbook": {},
        "entity": ("account", "accounts"),
    }
    nudges, evidence = map_nudges(cfg, tables, tmp_path, **kw)
    assert nudges.equals(empty_nudges(["A", "B"]))
    assert evidence[EVIDENCE_COLUMN].to_list() == [None, None]
    (tmp_path / "map").mkdir()
    (tmp_path / "map" / "ttv_curve.parquet").write_text("not parquet")
    nudges, evidence = map_nudges(cfg, tables, tmp_path, **kw)
    assert nudges.equals(empty_nudges(["A", "B"]))


def test_with_the_configured_order_the_next_milestone_is_the_playbooks() -> None:
    """S4 reached only first_workflow. The map's order (``is_next``) says first integration is
    next; a configured journey that puts first_automation first makes that the next one (the
    milestone the playbook's next step and its evidence are about)."""
    prog = _evidence_progress()
    assert account_nudges(["S4"], prog, None)["next_milestone"][0] == "first integration"
    journey = ["first_automation", "first_workflow", "first_integration"]
    ordered = account_nudges(["S4"], prog, None, order=journey)
    assert ordered["next_milestone"][0] == "first automation"
    assert ordered["milestones_reached"][0] == 1
    assert ordered["nudge"][0].startswith("1 of 3 steps done; next: first automation")


DRIVER_TOP = pl.DataFrame(
    {
        "segment_column": ["size_tier"] * 4 + ["all"] * 2,
        "segment": ["smb", "smb", "smb", "smb", "all", "all"],
        "kind": ["roles", "event", "event", "users", "event", "event"],
        "item": ["roles", "report_created", "report", "users", "integration_connected", "x"],
        "threshold": [3, 2, 1, 2, 1, 1],
        "label": [
            "had at least 3 roles active in the first 14 days",
            "did report created at least 2 times in the first 14 days",
            "did report at least once in the first 7 days",
            "added at least 2 users in the first 10 days",
            "did integration connected at least once in the first 14 days",
            "did x at least once in the first 7 days",
        ],
        "rate_ratio": [1.3, 1.5, 1.2, 1.25, 2.0, 1.1],
        "rr_low": [1.1, 1.2, 1.0, 1.0, 1.5, 1.0],
        "rr_high": [1.6, 1.9, 1.4, 1.5, 2.6, 1.2],
        "replicates": [True, True, True, True, True, True],
    }
)
MEMBERS = pl.DataFrame(
    {"account_id": ["S1", "S2", "S3", "S4", "M1"], "segment": ["smb"] * 4 + ["mid"]}
)
COUNTS = pl.DataFrame(
    {
        "account_id": [
            *["S1", "S2", "S3", "S4"],
            *["S2", "S3", "S4"],
            *["S1", "S2", "S3", "S4"],
            *["S1", "S2"],
        ],
        "kind": ["roles"] * 4 + ["event"] * 3 + ["event"] * 4 + ["users"] * 2,
        "item": ["roles"] * 4
        + ["report_created"] * 3
        + ["integration_connected"] * 4
        + ["users"] * 2,
        "count": [2, 3, 1, 4, 5, 1, 2, 1, 1, 1, 1, 9, 2],
    },
    schema_overrides={"count": pl.Int64},
)


def test_next_step_evidence_quotes_the_finding_on_what_the_step_is_about() -> None:
    """S1's step is about key users: the smb role-coverage finding; roles below 3 among the four
    smb accounts: S1 (2) and S3 (1), 50%. S2's step quotes its driver feature
    ev_report_created_28d: the report_created finding (the longest event name in the feature,
    not "report"); fewer than 2 of it: S1 (none) and S3 (1), 50%. S3's friction driver names no
    event of the map: no number. S4's step names its next milestone: the milestone finding as
    before. M1 (mid, no finding there) quotes the all-accounts integration finding; of all five,
    only M1 never connected one: 20%. O1 is not an active member: nothing."""
    subjects = pl.DataFrame(
        {
            "account_id": ["S1", "S2", "S3", "S4", "M1", "O1"],
            "next_step_about": ["role", "vocabulary", "friction", "milestone", "breadth", "role"],
            "driver": [
                "active_admins_28d",
                "ev_report_created_28d",
                "support_tickets_28d",
                None,
                "integration_connected_days_since",
                None,
            ],
        }
    )
    ids = ["S1", "S2", "S3", "S4", "M1", "O1"]
    top = pl.concat(
        [TOP.with_columns(pl.lit(1, pl.Int64).alias("threshold")), DRIVER_TOP], how="diagonal"
    )
    out = playbook_evidence(
        ids,
        _evidence_progress(),
        top,
        MILESTONES,
        segment_column="size_tier",
        subjects=subjects,
        members=MEMBERS,
        counts=COUNTS,
    )
    tail = "; 50% of yours have not done so yet."
    assert out[EVIDENCE_COLUMN].to_list() == [
        "In smb accounts, those that had at least 3 roles active in the first 14 days went on to "
        "succeed 1.3x as often (95% CI 1.1–1.6x)" + tail,
        "In smb accounts, those that did report created at least 2 times in the first 14 days "
        "went on to succeed 1.5x as often (95% CI 1.2–1.9x)" + tail,
        None,
        "In smb accounts, those that reached first integration in the first 14 days went on to "
        "succeed 1.4x as often (95% CI 1.1–1.8x)" + tail,
        "In all accounts, those that did integration connected at least once in the first 14 "
        "days went on to succeed 2.0x as often (95% CI 1.5–2.6x); 20% of yours have not done so yet.",
        None,
    ]
    # onboarding quotes the users-added finding: fewer than 2 users: S3, S4 (none) of four smb
    subjects = pl.DataFrame(
        {"account_id": ["S3"], "next_step_about": ["onboarding"], "driver": [None]}
    )
    [text] = playbook_evidence(
        ["S1", "S2", "S3", "S4"],
        None,
        top,
        MILESTONES,
        segment_column="size_tier",
        subjects=subjects,
        members=MEMBERS,
        counts=COUNTS,
        template="{finding}: {share_not}",
    )[EVIDENCE_COLUMN].to_list()[2:3]
    assert text == "added at least 2 users in the first 10 days: 50%"


def test_behaviour_counts_are_lifetime_counts_before_the_cutoff() -> None:
    """A0: two report_created (one at the cutoff, not counted), users u1 and u2, roles admin and
    viewer, first_integration reached; A1: one event, one user, churned? no: active."""
    from adoption.progress import behaviour_counts

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    cutoff = t0 + timedelta(days=20)
    events = pl.DataFrame(
        {
            "account_id": ["A0", "A0", "A0", "A0", "A1"],
            "user_id": ["u1", "u2", "u1", "u1", "v1"],
            "event": [
                "report_created",
                "integration_connected",
                "report_created",
                "report_created",
                "report_created",
            ],
            "timestamp": [
                t0 + timedelta(days=1),
                t0 + timedelta(days=2),
                t0 + timedelta(days=15),
                cutoff,
                t0 + timedelta(days=18),
            ],
        }
    )
    accounts = pl.DataFrame(
        {
            "account_id": ["A0", "A1"],
            "created_at": [t0, t0 + timedelta(days=3)],
            "size_tier": ["smb", "mid"],
        }
    )
    users = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "v1"],
            "account_id": ["A0", "A0", "A1"],
            "role": ["admin", "viewer", "admin"],
        }
    )
    members, counts = behaviour_counts(
        events,
        accounts,
        users,
        cutoff=cutoff,
        segment="size_tier",
        milestones=MILESTONES[:1],
    )
    assert members.sort("account_id").rows() == [("A0", "smb"), ("A1", "mid")]
    assert counts.rows() == [
        ("A0", "event", "integration_connected", 1),
        ("A0", "event", "report_created", 2),
        ("A0", "milestone", "first_integration", 1),
        ("A0", "roles", "roles", 2),
        ("A0", "users", "users", 2),
        ("A1", "event", "report_created", 1),
        ("A1", "roles", "roles", 1),
        ("A1", "users", "users", 1),
    ]


def test_the_scoring_job_does_not_use_a_map_as_of_a_later_date(tmp_path, cfg, caplog) -> None:
    """A map built on events after the scores' as_of would tell the accounts' future: the nudge
    columns stay null and one warning says how to rebuild it; a map of the same as_of is read."""
    import json
    import logging
    from datetime import date
    from types import SimpleNamespace

    from pipelines.score import map_nudges

    scores = pl.DataFrame({"account_id": ["A", "B"]})
    tables = SimpleNamespace(events=pl.DataFrame(), accounts=None, users=None)
    kw = {
        "scores": scores,
        "milestones": MILESTONES,
        "as_of": date(2026, 10, 1),
        "segments": [],
        "playbook": {},
        "entity": ("account", "accounts"),
    }
    (tmp_path / "map").mkdir()
    (tmp_path / "map" / "ttv_curve.parquet").write_text("not parquet")
    (tmp_path / "map" / "meta.json").write_text(json.dumps({"as_of": "2026-11-01"}))
    with caplog.at_level(logging.WARNING):
        nudges, evidence = map_nudges(cfg, tables, tmp_path, **kw)
    assert nudges.equals(empty_nudges(["A", "B"]))
    assert evidence[EVIDENCE_COLUMN].to_list() == [None, None]
    assert "is as of 2026-11-01, after this as_of 2026-10-01" in caplog.text
    assert "decay-map snapshot.as_of=2026-10-01" in caplog.text
    # the same as_of: the map is read (here it is unreadable, which is the other warning)
    caplog.clear()
    (tmp_path / "map" / "meta.json").write_text(json.dumps({"as_of": "2026-10-01"}))
    with caplog.at_level(logging.WARNING):
        map_nudges(cfg, tables, tmp_path, **kw)
    assert "could not be used" in caplog.text

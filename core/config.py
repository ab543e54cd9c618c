"""Structured configuration: the typed schema behind every YAML file in ``conf/``.

Why dataclasses: Hydra validates every override against them at start-up, so a typo such as
``label.horizon_dayz=3`` fails in the first second with the offending key named, instead of after
an hour of training. The YAML files in ``conf/`` only set values; the *shape* lives here.

Every section is documented where it is declared; the field names are a public interface that
users' scripts and schedulers rely on (see README), so rename nothing without a deprecation.

A setting with a fixed set of values is an enum below, so a bad choice (``model.strategy=best``)
fails at start-up like a typo. They are ``StrEnum``s whose member *names* are the values users
type (OmegaConf looks a member up by name): each member equals its string (``cfg.model.strategy
== "global"``), formats as it (f-strings, ``str()``, MLflow params, JSON, ``--cfg job``), and the
YAML and command-line spelling is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


# -- choices ---------------------------------------------------------------------------------
class OnError(StrEnum):
    """``data.on_error``: what a row breaking the data contract does (see ``DataConfig``)."""

    fail = "fail"
    quarantine = "quarantine"


class DataFormat(StrEnum):
    """``data.format``: the file format of the raw tables (null = from each file's extension)."""

    parquet = "parquet"
    csv = "csv"


class DataLayout(StrEnum):
    """``data.layout``: the shape of the raw tables (``data=tracking_plan`` sets tracking_plan)."""

    canonical = "canonical"  # data.events/users/accounts, mapped by data.columns
    tracking_plan = "tracking_plan"  # data.tracks + data.groups (docs/tracking_plan.md)


class DataSource(StrEnum):
    """``data.source``: where the raw tables come from (``data=postgres`` sets postgres)."""

    files = "files"  # data.events/users/accounts are files, folders or globs
    postgres = "postgres"  # ... are table names or SELECT queries (docs/postgres.md)


class SinkKind(StrEnum):
    """``sink.kind``: where ``decay-score`` also writes the scores (``sink=postgres``)."""

    none = "none"  # only the scores folder under ${output.dir}
    postgres = "postgres"  # + upsert into PostgreSQL tables (docs/postgres.md)


class LabelName(StrEnum):
    """``label.name``: which definition of decay (``label=<name>`` picks its YAML group)."""

    usage_drop = "usage_drop"
    inactivity = "inactivity"
    churn_event = "churn_event"


class Dormant(StrEnum):
    """``label.dormant``: accounts already dormant at the cutoff are labelled, or get no label."""

    label = "label"
    exclude = "exclude"


#: ``model.strategy``: one booster (``global``), one per segment, or the better of both per
#: segment (``auto``). Functional form because ``global`` is a Python keyword.
Strategy = StrEnum(
    "Strategy",
    [("per_segment", "per_segment"), ("global", "global"), ("auto", "auto")],
    module=__name__,
)


class Calibration(StrEnum):
    """``model.calibration``: how raw booster scores become probabilities."""

    isotonic = "isotonic"
    sigmoid = "sigmoid"
    none = "none"


class Metric(StrEnum):
    """``model.gate_metric``: a test metric of 0/1 labels; ``models.metrics.METRICS`` holds its
    function and whether higher is better (tests keep the two lists equal)."""

    pr_auc = "pr_auc"
    roc_auc = "roc_auc"
    log_loss = "log_loss"
    brier = "brier"


class BoosterMetric(StrEnum):
    """``model.promotion_metric``, ``tune.objective``: the metrics of ``models.metrics.METRICS``
    that LightGBM evaluates itself (early stopping, pruning) — training early-stops and picks
    routes by the promotion metric, so it must be one of these."""

    pr_auc = "pr_auc"
    roc_auc = "roc_auc"
    log_loss = "log_loss"


class HigherIs(StrEnum):
    """``model.heuristic_higher_is``: what a higher value of the heuristic's feature means."""

    healthier = "healthier"
    riskier = "riskier"


class TierMode(StrEnum):
    """``score.tier_mode``: how risk tiers are cut (see ``ScoreConfig``)."""

    relative = "relative"
    threshold = "threshold"
    capacity = "capacity"


class Explainer(StrEnum):
    """``score.explainer``: the TreeSHAP implementation of the drivers (same values)."""

    pred_contrib = "pred_contrib"
    woodelf = "woodelf"
    shap = "shap"


class CauseRelativeTo(StrEnum):
    """``score.cause_relative_to``: family contributions compared with segment peers, or as is."""

    peers = "peers"
    base = "base"


class Step(StrEnum):
    """``run.steps``: the console scripts ``decay-run`` chains, in this order."""

    simulate = "simulate"
    features = "features"
    tune = "tune"
    train = "train"
    # Before score: the CSM report links to the map, and the map is built from the same tables.
    map = "map"
    score = "score"


class MapChurn(StrEnum):
    """``map.churn``: when an account counts as churned on its journey (``adoption.timeline``):
    ``auto`` = accounts.churned_at when the table has it, else the inactivity rule."""

    auto = "auto"
    churned_at = "churned_at"
    inactivity = "inactivity"
    either = "either"


class SimulateWhen(StrEnum):
    """``run.simulate``: simulate the demo data only when it is missing, or every time."""

    if_missing = "if_missing"
    always = "always"


class TrainPolicy(StrEnum):
    """``train.policy``: when ``decay-run`` retrains (tune + train) before scoring
    (``tracking.policy``; no champion yet always trains)."""

    always = "always"  # every run (the demo's `make run`)
    every_days = "every_days"  # when the champion is train.every_days older than snapshot.as_of
    drift = "drift"  # when the previous scoring run drifted past train.drift_share / drift_psi
    every_days_or_drift = "every_days_or_drift"  # either


class EngineKind(StrEnum):
    """``engine``: where the heavy steps run (docs/scaling.md)."""

    local = "local"  # this process (optionally chunked by features.chunk_accounts)
    dask = "dask"  # a Dask distributed cluster: partitions of accounts on its workers


class ExplainFormat(StrEnum):
    """``explain.format``: plain text for a person at a terminal, or one JSON object."""

    text = "text"
    json = "json"


@dataclass
class ColumnsConfig:
    """Canonical column -> source column. Applied to every table that has the source column.

    Override one mapping on the command line, e.g. ``data.columns.timestamp=event_time``.
    """

    account_id: str = "account_id"
    timestamp: str = "timestamp"
    user_id: str = "user_id"
    event: str = "event"
    value: str = "value"
    role: str = "role"
    created_at: str = "created_at"
    deactivated_at: str = "deactivated_at"
    renewal_date: str = "renewal_date"
    churned_at: str = "churned_at"
    seats: str = "seats"


@dataclass
class TrackingPlanConfig:
    """``data.tracking_plan``: how ``data.layout=tracking_plan`` derives the canonical tables.

    ``data.tracks`` has one row per track call (user id, event, timestamp, properties) and
    ``data.groups`` one per group call (user id, group id = account id, timestamp, traits); their
    user id, event and time columns are mapped by ``data.columns`` like any table. A trait is read
    from a groups column of that name when there is one, else from the JSON ``traits`` column.
    Mapping rules (latest group at or before each event, latest traits): docs/tracking_plan.md."""

    # groups column holding the group (= account) id.
    group_id: str = "group_id"
    # tracks column of event properties: JSON text or a struct; null = the tracks have none.
    properties: str | None = "properties"
    # groups column of traits: JSON text or a struct; null = the traits are groups columns.
    traits: str | None = "traits"
    # Property whose number becomes events.value (e.g. revenue); null = no value.
    value_property: str | None = None
    # Properties copied onto the events as text columns (e.g. a device segment in data.segments).
    event_properties: list[str] = field(default_factory=list)
    # users column <- trait key: the latest value set on the user's group calls.
    user_traits: dict[str, str] = field(default_factory=lambda: {"role": "role"})
    # accounts column <- trait key: the latest value per account. Unmapped, data.segments, the
    # account attributes the features read and created_at/renewal_date/churned_at/seats are
    # traits of their own name.
    account_traits: dict[str, str] = field(default_factory=dict)
    # true: segment traits go on each event as of the event (point-in-time segments,
    # features.segments) instead of the accounts' latest values.
    segments_as_of_event: bool = False


@dataclass
class DataConfig:
    """Where the raw tables are and how to read them.

    ``users``/``accounts`` set to null mean the source has no such table: events alone are enough,
    and features needing the missing table are left out with one logged line.
    """

    dir: str = "data/demo"
    events: str = "${data.dir}/events.parquet"
    users: str | None = "${data.dir}/users.parquet"
    accounts: str | None = "${data.dir}/accounts.parquet"
    # Simulator oracle (only exists for simulated data); null on real data.
    truth: str | None = "${data.dir}/truth.parquet"
    # parquet|csv; null = decided from each path's extension.
    format: DataFormat | None = None
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    # Segment attribute columns of the accounts table (kept in the dataset, used for peers/models).
    segments: list[str] = field(default_factory=lambda: ["industry", "size_tier", "use_case"])
    # fail: one error naming table, column, count and examples. quarantine: keep going, rejected
    # rows land in ${output.dir}/quarantine/<table>.parquet with a `reason` column.
    on_error: OnError = OnError.quarantine
    # Zone of naive timestamps in the source; stored data is always UTC.
    timezone: str = "UTC"
    # strptime format for string timestamps in CSV; null = ISO 8601 inference.
    timestamp_format: str | None = None
    # Name given to events when the source has no `event` column.
    default_event: str = "activity"
    # End of observation (exclusive, ISO date). null = the day after the newest valid event.
    observed_until: str | None = None
    # The noun for one scored entity in the report and texts ("account", "customer",
    # "subscriber"...). null = from the data: "account" when events carry user ids other than
    # the account ids, else "customer" (report/words.py entity_noun).
    entity: str | None = None
    # files: the paths above. postgres: each of events/users/accounts is a [schema.]table name
    # or a SELECT/WITH query, read over ADBC from the server in the environment variable named
    # by dsn_env (never the DSN itself: docs/postgres.md), spooled to spool_dir as parquet.
    source: DataSource = DataSource.files
    dsn_env: str = "DECAY_PG_DSN"
    spool_dir: str = "${output.dir}/.spool"
    # canonical: the events/users/accounts above. tracking_plan: a tracks and a groups table
    # (Segment/RudderStack/Snowplow style) from which ingest.layouts derives the three.
    layout: DataLayout = DataLayout.canonical
    tracks: str | None = None
    groups: str | None = None
    tracking_plan: TrackingPlanConfig = field(default_factory=TrackingPlanConfig)


@dataclass
class SnapshotConfig:
    """Cutoff schedule. A cutoff is a date; it stands for 00:00 UTC of that day (exclusive end).

    Cutoffs are ``as_of - k * every_days`` for ``k = 0 .. count-1``. ``every_days`` and
    ``count`` left null are taken from the data's profile (``ingest.defaults``: weekly when the
    typical gap between active days is a week or less, as many cutoffs as the history holds,
    at most 52); each choice is logged in one line.
    """

    as_of: str = "2026-11-01"
    every_days: int | None = None
    count: int | None = None
    # Eligibility: accounts younger than this at the cutoff are not scored or labelled.
    min_tenure_days: int = 14
    # Eligibility: at least this many events before the cutoff.
    min_events: int = 1


@dataclass
class LabelConfig:
    """What "adoption decayed in the following horizon" means. Chosen with ``label=<name>``.

    A label at cutoff t reads only events in [t, t + horizon_days) and exists only when that whole
    window is observed (t + horizon_days <= observed_until).
    """

    name: LabelName = LabelName.usage_drop
    horizon_days: int = 28
    # usage_drop: mean weekly active users over the last `assess_days` of the horizon falls below
    # `drop_fraction` x mean weekly active users over the `baseline_days` before t.
    drop_fraction: float = 0.5
    baseline_days: int = 28
    assess_days: int = 14
    # usage_drop / inactivity: accounts whose baseline weekly active users is below this are
    # dormant at the cutoff. dormant=label (default): they are labelled like every account they
    # will be scored with (usage_drop: 1 if they stay below it through the assessment weeks, i.e.
    # do not come back; inactivity: no qualifying event in the horizon). dormant=exclude: no label.
    min_baseline_users: float = 1.0
    dormant: Dormant = Dormant.label
    # Events that count as use of the product (empty = every event not excluded).
    qualifying_events: list[str] = field(default_factory=list)
    excluded_events: list[str] = field(
        default_factory=lambda: [
            "support_ticket_opened",
            "integration_error",
            "subscription_cancelled",
        ]
    )
    # churn_event: any of these events, or accounts.churned_at, inside the horizon.
    churn_events: list[str] = field(default_factory=lambda: ["subscription_cancelled"])


@dataclass
class MilestoneConfig:
    """An outcome milestone: reached at the first event in `events` (optionally with value>=min_value)."""

    name: str = MISSING
    events: list[str] = MISSING
    # Days after signup by which a healthy account usually reaches it (used for "late").
    expected_days: int = 30
    description: str = ""


#: Every indicator family, in catalogue order (``features.catalogue.FAMILIES`` is this tuple).
FEATURE_FAMILIES = (
    "activity",
    "trends",
    "breadth",
    "role",
    "milestones",
    "onboarding",
    "friction",
    "lifecycle",
    "peer",
    "vocabulary",
    "history",
)


@dataclass
class FeaturesConfig:
    """Leading-indicator families and their parameters. Every family can be switched off."""

    families: list[str] = field(default_factory=lambda: list(FEATURE_FAMILIES))
    # Trailing windows (days) for counts: [t - w, t).
    windows_days: list[int] = field(default_factory=lambda: [7, 28, 90])
    # Trend ratio: activity in the last `recent_days` vs. the `baseline_days` before them.
    recent_days: int = 28
    baseline_days: int = 56
    # Weekly slope of activity over this many whole weeks before the cutoff.
    slope_weeks: int = 8
    # Events that count as use (empty = every event not in `non_usage_events`).
    usage_events: list[str] = field(default_factory=list)
    non_usage_events: list[str] = field(
        default_factory=lambda: [
            "support_ticket_opened",
            "integration_error",
            "subscription_cancelled",
        ]
    )
    # Key product features: "days since last use" and per-feature activity.
    key_events: list[str] = field(
        default_factory=lambda: [
            "dashboard_viewed",
            "report_created",
            "workflow_completed",
            "automation_launched",
            "integration_synced",
            "api_call",
        ]
    )
    roles: list[str] = field(default_factory=lambda: ["admin", "builder", "member"])
    milestones: list[MilestoneConfig] = field(default_factory=list)
    # Configured milestones whose events never occur are left out; when none remain, discover
    # candidates from the data (first occurrence of key event types; ingest.defaults).
    discover_milestones: bool = True
    onboarding_days: int = 10
    invite_events: list[str] = field(default_factory=lambda: ["user_invited"])
    error_events: list[str] = field(default_factory=lambda: ["integration_error"])
    ticket_events: list[str] = field(default_factory=lambda: ["support_ticket_opened"])
    # Lifecycle stage boundaries in days of tenure: onboarding < a <= growing < b <= mature.
    maturity_days: list[int] = field(default_factory=lambda: [90, 365])
    # Metrics ranked within the segment at the same cutoff (percentile 0..1).
    peer_metrics: list[str] = field(default_factory=list)
    # Segment column used for peers (medians, percentiles, milestone delays). A column the data
    # lacks falls back to its first segment column (ingest.defaults); null = all accounts.
    peer_segment: str | None = "size_tier"
    # Contract cycle for days_to_renewal (see features/lifecycle.py): per value of an accounts
    # column (e.g. plan: {monthly: 30, annual: 365}), else renewal_cycle_days.
    renewal_cycle_days: int = 365
    renewal_cycle_column: str | None = "plan"
    renewal_cycle_by: dict[str, int] = field(default_factory=lambda: {"monthly": 30, "annual": 365})
    # Cap for "days since" features when something never happened (keeps them numeric).
    never_days: int = 9999
    # Build on this many hash-chunks of account ids (one window engine per chunk; peer and
    # milestone-delay features on the whole frame after): the same dataset with less memory
    # per chunk (docs/scaling.md). null = one build over all accounts. Not in the fingerprint.
    chunk_accounts: int | None = None
    # Engagement indicators (features/engagement.py): weekly active users and person-days per
    # week, lapsing users, roster changes by role, last-week friction. On with their families.
    engagement: bool = True
    # Short-term momentum (features/momentum.py; family trends, needs `engagement`): person-days
    # of the last k days vs the same weekdays of the recent_days weeks before, slope of the 7-day
    # moving person-days, the run of days below a fraction of the long baseline, and the same
    # weeks of last year (last_year_days back, e.g. 364; 0 = off: needs > 1 year of history).
    # Off by default: on the demo it moved test ROC-AUC by +0.003 (noise level) for +20% build
    # time; worth trying on real logs where decays start without a warning sign.
    momentum: bool = False
    momentum_days: list[int] = field(default_factory=lambda: [3, 7, 14])
    momentum_slope_days: int = 14
    momentum_below_fraction: float = 0.75
    momentum_max_days: int = 28
    last_year_days: int = 0
    # Vocabulary family (features/vocabulary.py): counts, recency, trend and share of the data's
    # own event types. null = pick automatically at build time: the event types reached by at
    # least `vocabulary_min_account_share` of the accounts (before the last cutoff), not in
    # `non_usage_events`, the `vocabulary_max_events` most widespread (ties by name); the
    # pipelines fill it from the data profile (ingest.defaults). A list names them explicitly
    # (names absent from the data are left out with one log line).
    vocabulary_events: list[str] | None = None
    vocabulary_min_account_share: float = 0.02
    vocabulary_max_events: int = 12


@dataclass
class ModelConfig:
    """Per-segment LightGBM. ``params`` is a dict of LightGBM params, or the string ``best`` to
    take the best trial of the tuning study."""

    name: str = "adoption-decay"
    strategy: Strategy = Strategy.auto
    segment_key: str | None = "size_tier"
    min_segment_rows: int = 400
    min_segment_positives: int = 25
    params: Any = field(default_factory=dict)
    num_boost_round: int = 600
    early_stopping_rounds: int = 50
    # Early stopping on a short or shifted validation period can stop after a handful of rounds
    # (5 on the subscription test log: test ROC-AUC 0.778 refit with 5 rounds, 0.807 with 50);
    # the rounds used are at least this many.
    min_rounds: int = 50
    # The boosters tested (and served) are refit on training + validation rows with the rounds
    # early stopping chose: the most recent labels matter on young logs (subscription test log:
    # 0.678 trained on the training period only). Calibrators stay fit on validation scores.
    fit_on_validation: bool = True
    calibration: Calibration = Calibration.isotonic
    # Scoring: which model to load; null = models:/${model.name}@champion.
    uri: str | None = None
    # Early stopping, the segment-vs-global choice (validation) and the registry's promotion
    # gate (test rows, against the champion) all compare models by this metric.
    promotion_metric: BoosterMetric = BoosterMetric.pr_auc
    # The baseline gate: LightGBM is served only when it strictly beats every built-in servable
    # baseline (models/baselines.py SERVABLE) on the test rows by gate_metric; otherwise the best
    # baseline is registered and served (same pyfunc, explained the same way).
    baseline_gate: bool = True
    gate_metric: Metric = Metric.roc_auc
    # Refit the served model on every labelled cutoff once evaluation chose its settings
    # (rounds, routes, calibrators); the reported metrics stay those of the evaluation fit.
    refit: bool = True
    # Heuristic baseline: one feature ranks the risk (higher_is: healthier = lowest is riskiest).
    # Absent from the dataset -> the first present *_trend_ratio feature, else no heuristic.
    heuristic_feature: str = "active_users_trend_ratio"
    heuristic_higher_is: HigherIs = HigherIs.healthier


@dataclass
class SplitConfig:
    """Time split on cutoffs: train < validation < test, separated by an embargo."""

    test_cutoffs: int = 4
    validation_cutoffs: int = 4
    # Gap between the last training cutoff's label window and the next period. null = horizon.
    embargo_days: int | None = None
    # Denser training cutoffs: with a dense snapshot schedule (e.g. snapshot.every_days=1,
    # snapshot.count=358) only every `evaluate_every_days`-th cutoff back from the last labelled
    # one can be a validation/test cutoff (the counts above and backtest.step_cutoffs count
    # those); training takes every cutoff clearing the embargo. null = every cutoff (default:
    # daily training cutoffs measured +0.004 test ROC-AUC on the demo, within noise, at 7x the
    # training rows; see models/split.py).
    evaluate_every_days: int | None = None
    # Short histories: take the strongest honest split the history allows (fewer cutoffs, then
    # validation from held-out accounts, then unevaluated) instead of stopping. false = the
    # configured counts or an error.
    adapt: bool = True
    # Share of accounts held out for validation when the history has no room for a validation
    # period (early stopping and calibration only).
    holdout_share: float = 0.2


@dataclass
class BacktestConfig:
    """Rolling-origin backtest: the same training repeated at earlier origins."""

    origins: int = 3
    # Each origin moves the test period back by this many cutoffs.
    step_cutoffs: int = 4


@dataclass
class EvalConfig:
    capacity: int = 50  # accounts a CS team can contact per period
    top_fraction: float = 0.1  # lift at top 10%


@dataclass
class TuneConfig:
    n_trials: int = 20
    timeout: int | None = None  # seconds
    objective: BoosterMetric = BoosterMetric.pr_auc  # validation metric
    study_name: str = "${model.name}"
    storage: str = "sqlite:///${output.dir}/tune/optuna.db"


@dataclass
class MlflowConfig:
    """Embedded default: SQLite store + artifact folder in the project, no server needed."""

    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_location: str = "mlruns/artifacts"
    experiment: str = "adoption-decay"
    # Log tuning trials as nested runs.
    log_trials: bool = True


@dataclass
class ScoreConfig:
    # relative: tiers by rank in the scored population (top min(eval.capacity, shares.high x n)
    # are "high", the rest of the top shares.medium x n "medium"), so a high base rate does not
    # make everyone "high"; threshold: tiers by decay_risk; capacity: the top `eval.capacity`
    # are "high", the rest by the medium threshold.
    tier_mode: TierMode = TierMode.relative
    tier_shares: dict[str, float] = field(default_factory=lambda: {"high": 0.1, "medium": 0.3})
    tier_thresholds: dict[str, float] = field(default_factory=lambda: {"high": 0.5, "medium": 0.25})
    top_drivers: int = 3
    top_protective: int = 2
    chunk_rows: int = 200_000
    # pred_contrib (LightGBM TreeSHAP) | woodelf (faster exact) | shap
    explainer: Explainer = Explainer.woodelf
    # Threads for explanation chunks (measured no gain on 2 cores: the work holds the GIL).
    n_jobs: int = 1
    psi_bins: int = 10
    psi_warn: float = 0.2
    report: bool = True
    # scores.csv: text cells a spreadsheet would run as a formula (= + - @ tab CR first) get a
    # leading ' (customer data is hostile); false = raw values for machine consumers.
    csv_neutralise: bool = True
    # Why vs. that (scoring/score.py `cause_attribution`): driver families that name a reason a CSM
    # can act on. Every other family (activity, trends, breadth, peer: usage going down; lifecycle:
    # renewal timing and tenure) is a *symptom*. `top_cause_family` (which also picks the playbook
    # rule) is the cause family with the largest summed contribution, compared with the account's
    # segment peers (`cause_relative_to: peers`) or as is (`base`), when it is material: its summed
    # TreeSHAP contribution is >= cause_min_contribution (log-odds) and >= cause_min_share x the
    # account's total positive family contribution. Otherwise no single cause (kind `none`); the next
    # step follows the top symptom.
    cause_families: list[str] = field(
        default_factory=lambda: ["role", "milestones", "onboarding", "friction"]
    )
    cause_min_contribution: float = 0.05
    cause_min_share: float = 0.0
    cause_relative_to: CauseRelativeTo = CauseRelativeTo.peers
    # A cause family is named only when its summed contribution is also higher than for this share
    # of the account's segment peers (0 = off); otherwise "no single cause" (top_cause_kind: none,
    # top_cause_family null) and the playbook follows the top symptom family.
    cause_min_peer_percentile: float = 0.91
    # Cause families that name a loss ("key users went quiet"): a row may claim one as its cause
    # only when the family's previous-window facts (*_prev_* features) show something to lose;
    # otherwise (a dormant account, one that never got going) it cannot be the cause.
    cause_loss_families: list[str] = field(default_factory=lambda: ["role"])


@dataclass
class NudgeConfig:
    """Nudges per scored account (``scoring/nudges.py``), from the adoption map when
    ``${output.dir}/map/ttv_curve.parquet`` exists (decay-run builds it before scoring): milestone
    progress at ``snapshot.as_of`` against the map's time-to-value curve of the account's segment
    (``features.peer_segment``, else the first segment), and the key events its segment peers did
    recently that it never did. Churn follows ``map.churn`` / ``map.inactive_days``."""

    # false = the nudge columns stay null even with a map.
    enabled: bool = True
    # Peers' recent use: the days before as_of looked at ([as_of - lookback_days, as_of)).
    lookback_days: int = 14
    # A key event is a gap when at least this share of the segment's other active accounts did
    # it in that window (and there are at least min_peers of them) and the account never did.
    min_share: float = 0.5
    min_peers: int = 5
    # At most this many events in peer_gap_events and the nudge (most widespread first).
    max_events: int = 3


@dataclass
class MapConfig:
    """The adoption map (``decay-map``; ``adoption.build.MapParams`` has the same names).

    Each early behaviour is judged at a landmark day D (accounts still active and observed at D,
    on what they did before D); success = still active ``outcome_horizon_days`` after the last
    landmark (an event in the last ``outcome_window_days`` of that span, not churned)."""

    landmark_days: list[int] = field(default_factory=lambda: [7, 14, 30])
    outcome_horizon_days: int = 60
    outcome_window_days: int = 28
    churn: MapChurn = MapChurn.auto
    # Without accounts.churned_at: churned after this many days without any event.
    inactive_days: int = 30
    # Fewer accounts than this in either group (did it / did not): no estimate, only support.
    min_n: int = 10
    # A behaviour or threshold is a candidate only when this many accounts can be judged on it.
    min_accounts: int = 10
    # False discovery rate (Benjamini-Hochberg) across all behaviours x segments.
    alpha: float = 0.05
    conf_level: float = 0.95
    top_k: int = 5
    # Days before and after a milestone in which over-represented events are looked for.
    journey_window_days: int = 7
    # Time to value: share of accounts that reached each milestone by these days since start.
    checkpoints: list[int] = field(default_factory=lambda: [30, 60, 90])
    # Outcome tracking: activation within this many days, per signup month.
    cohort_within_days: int = 30


@dataclass
class SimulateConfig:
    accounts: int = 1200
    days: int = 540
    seed: int = "${seed}"  # type: ignore[assignment]
    # Last simulated day is the day before this (exclusive end, ISO date).
    end_date: str = "2026-11-01"
    # Monte Carlo replays of the horizon for the truth oracle.
    oracle_replays: int = 200
    # Plant the adoption map's test behaviours with their ground truth (map_truth.parquet,
    # ttv_truth.parquet): python -m benchmarks.adoption_map turns it on; the demo keeps it off.
    planted: bool = False


@dataclass
class TrainConfig:
    """When ``decay-run`` retrains (tune + train) before scoring, else it scores with the current
    champion (``tracking.policy``; docs/scheduling.md). No champion yet: it trains, whatever the
    policy. Ages are in data time: ``snapshot.as_of`` minus the ``snapshot.as_of`` the champion
    was trained at (not the wall clock), so a re-run or a backfill of one as_of decides the same.

    Drift is read from the latest scoring run *before* ``snapshot.as_of`` that the current
    champion scored (``${output.dir}/scores/as_of=*/drift.parquet``); features that already moved
    within training (``grows_with_time``) never count. A threshold left null is off.
    Scheduled defaults (docs/scheduling.md): ``train.policy=every_days_or_drift``."""

    policy: TrainPolicy = TrainPolicy.always
    # Retrain when the champion's as_of is at least this many days before snapshot.as_of.
    every_days: int = 28
    # Retrain when more than this share of the compared features drifted (psi > score.psi_warn).
    drift_share: float | None = 0.2
    # Retrain when the largest PSI of a compared feature is above this.
    drift_psi: float | None = None


@dataclass
class RunConfig:
    """`decay-run`: which steps, and per-step extra overrides (e.g. a short tune)."""

    steps: list[Step] = field(default_factory=lambda: list(Step))
    # if_missing: simulate only when data.events does not exist; always: re-simulate.
    simulate: SimulateWhen = SimulateWhen.if_missing
    step_overrides: dict[Step, list[str]] = field(
        default_factory=lambda: {Step.tune: ["tune.n_trials=8"], Step.train: ["model.params=best"]}
    )
    # Wait this long (seconds) for another run holding ${output.dir}/.decay-run.lock, then exit
    # 6 (retry later). 0 = do not wait (core/lock.py, docs/scheduling.md).
    lock_wait_seconds: float = 0


@dataclass
class ExplainConfig:
    """`decay-explain account_id=ID`: one account's scores in the terminal (``pipelines.explain``).

    Reads a scoring run under ``${output.dir}/scores/as_of=DATE/``; no model is loaded."""

    # The account to explain (required; ``account_id=ID`` on the command line sets it).
    account_id: str | None = None
    # The scoring run's date (YYYY-MM-DD); null = the latest run on disk.
    as_of: str | None = None
    format: ExplainFormat = ExplainFormat.text


@dataclass
class SinkConfig:
    """``decay-score`` also writes scores, drivers and nudges elsewhere (``sink=postgres``).

    One transaction upserts on (account_id, as_of) into ``table``, ``<table>_drivers`` and
    ``<table>_nudges`` after the scores folder is written (``scoring.sink``, docs/postgres.md)."""

    kind: SinkKind = SinkKind.none
    # Environment variable holding the PostgreSQL connection string (never the DSN itself).
    dsn_env: str = "DECAY_PG_DSN"
    # [schema.]table of the scores; the drivers and nudges tables get _drivers/_nudges suffixes.
    table: str = "decay_scores"


@dataclass
class EngineConfig:
    """``engine=dask``: run ingest, validation, the feature build, training, tuning and scoring
    on a Dask distributed cluster (``core.cluster``, docs/scaling.md). Every partition runs the
    same polars code as ``engine=local``; the answers are the same (features row for row)."""

    kind: EngineKind = EngineKind.local
    # An existing cluster's scheduler (tcp://host:8786); null = start a LocalCluster here.
    scheduler_address: str | None = None
    # LocalCluster only: worker processes, threads per worker, memory limit per worker (Dask
    # spills to disk past 60% of it, pauses at 80% and restarts the worker at 95%).
    n_workers: int = 2
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"
    # Hash partitions of account ids (each one validated and built by one task); null = four
    # per worker. More partitions = less memory per task, more tasks.
    partitions: int | None = None
    # Seconds to wait for the scheduler / the workers before giving up (exit 8).
    timeout_seconds: float = 60


@dataclass
class OutputConfig:
    dir: str = "outputs/demo"


@dataclass
class Config:
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    snapshot: SnapshotConfig = field(default_factory=SnapshotConfig)
    label: LabelConfig = field(default_factory=LabelConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    # Feature catalogue: feature-name pattern -> family/unit/description/sentence (conf/catalogue).
    catalogue: dict[str, Any] = field(default_factory=dict)
    # CSM playbook: driver family / milestone -> suggested next step (conf/playbook).
    playbook: dict[str, Any] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    # When decay-run retrains (train.policy); decay-train itself always trains.
    train: TrainConfig = field(default_factory=TrainConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    map: MapConfig = field(default_factory=MapConfig)
    nudge: NudgeConfig = field(default_factory=NudgeConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    run: RunConfig = field(default_factory=RunConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    sink: SinkConfig = field(default_factory=SinkConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)


def register() -> None:
    """Register the schema so ``conf/config.yaml`` can extend it as ``base_config``."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)


register()


CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def load_config(overrides: list[str] | None = None) -> Any:
    """Compose the project config outside a Hydra app (tests, notebooks, benchmarks).

    Same composition and validation as the console scripts: ``load_config(["label=inactivity"])``.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))

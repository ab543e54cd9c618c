"""The simulated product's fixed parameters: segments, roles, event catalogue, mechanism strengths.

Why one module: every number that shapes the demo world (how big an smb is, how hard losing the
champion hits it, how often integrations break) is read here, so a reader can tune the world
without touching the vectorised machinery in the other modules. Rates are per day; all day
indices elsewhere count whole UTC days from the first simulated day.
"""

from __future__ import annotations

import numpy as np

NEVER = 10**6  # a day index that is never reached (milestone never met, no churn, ...)

INDUSTRIES = (
    "software",
    "financial_services",
    "healthcare",
    "retail",
    "manufacturing",
    "education",
    "media",
)
INDUSTRY_P = np.array([0.24, 0.14, 0.12, 0.14, 0.14, 0.10, 0.12])
USE_CASES = ("analytics", "workflow_automation", "integration_hub", "reporting")
USE_CASE_P = np.array([0.32, 0.28, 0.18, 0.22])
TIERS = ("smb", "mid", "enterprise")
TIER_P = np.array([0.55, 0.32, 0.13])
# Licensed seats per tier: smb uniform 3..15, mid/enterprise log-uniform in [lo, hi].
SEAT_RANGE = {"smb": (3, 15), "mid": (15, 80), "enterprise": (80, 400)}
# smb buys monthly (renews every 30 days), mid and enterprise sign annual contracts.
TERM_DAYS = np.array([30, 365, 365])
PLANS = ("monthly", "annual", "annual")
# Business-hours centre (UTC hour) for the account's region: Europe, Americas, APAC.
REGION_HOUR = np.array([12.0, 17.0, 4.0])
REGION_P = np.array([0.4, 0.45, 0.15])

ROLES = ("admin", "builder", "member")
ADMIN, BUILDER, MEMBER = 0, 1, 2
# Daily probability that a user of the role is active on a normal weekday (before the account's
# engagement multiplier and the per-user level).
ROLE_BASE_P = np.array([0.62, 0.55, 0.32])
LEVEL_MULT = np.array([0.6, 1.0, 1.3])  # casual, regular, power user
LEVEL_P = np.array([0.3, 0.5, 0.2])
CHAMPION_P = 0.85
# Cap of a daily activity probability (after all multipliers), shared by generator and oracle.
P_MAX = 0.98
# Share of non-champion users per role, by tier (smb teams have relatively more admins).
ROLE_P_BY_TIER = np.array([[0.14, 0.30, 0.56], [0.08, 0.30, 0.62], [0.04, 0.26, 0.70]])
# Mean extra events (after the login) per active user-day, by role.
EXTRA_EVENTS_PER_DAY = np.array([1.7, 2.3, 1.0])
USER_TENURE_MEAN_DAYS = 420.0

EVENTS = (
    "login",
    "dashboard_viewed",
    "report_created",
    "export_created",
    "integration_connected",
    "integration_synced",
    "integration_error",
    "workflow_created",
    "workflow_completed",
    "automation_launched",
    "user_invited",
    "support_ticket_opened",
    "api_call",
    "comment_added",
    "file_uploaded",
    "settings_changed",
    "subscription_cancelled",
    "report_viewed",
    "search_performed",
    # Planted for the adoption-map benchmark (``simulator.planted``); never drawn from the mix.
    "webhook_configured",
    "template_shared",
    "sso_configured",
)
EV = {name: i for i, name in enumerate(EVENTS)}
#: Events after the last one the role mix can draw (``event_mix_cdf`` rows end at 1 before them).
MIX_END = EV["search_performed"] + 1

# Relative weights of the extra events of an active user-day, by role. Events that only come
# from dedicated processes (login, errors, tickets, invites, cancellation) have weight 0 here.
_MIX = {
    "admin": {
        "dashboard_viewed": 4,
        "report_created": 1,
        "export_created": 1,
        "integration_connected": 0.15,
        "integration_synced": 1.5,
        "workflow_created": 0.6,
        "workflow_completed": 0.6,
        "automation_launched": 0.3,
        "api_call": 1,
        "comment_added": 1,
        "file_uploaded": 0.5,
        "settings_changed": 2,
        "report_viewed": 2,
        "search_performed": 1,
    },
    "builder": {
        "dashboard_viewed": 2,
        "report_created": 1,
        "export_created": 0.5,
        "integration_synced": 1,
        "workflow_created": 2.5,
        "workflow_completed": 3,
        "automation_launched": 1.5,
        "api_call": 2,
        "comment_added": 1,
        "file_uploaded": 0.6,
        "settings_changed": 0.3,
        "report_viewed": 1,
        "search_performed": 1,
    },
    "member": {
        "dashboard_viewed": 5,
        "report_created": 1.2,
        "export_created": 1,
        "workflow_completed": 0.4,
        "comment_added": 2,
        "file_uploaded": 1,
        "report_viewed": 3,
        "search_performed": 1.5,
    },
}
# Use-case tilt: multiplies the weights of these events.
_USE_CASE_TILT = {
    "analytics": {"dashboard_viewed": 1.5, "report_viewed": 1.5, "export_created": 1.3},
    "workflow_automation": {
        "workflow_created": 1.6,
        "workflow_completed": 1.6,
        "automation_launched": 1.8,
    },
    "integration_hub": {"integration_synced": 2.5, "api_call": 2.5},
    "reporting": {"report_created": 1.8, "export_created": 1.6, "report_viewed": 1.3},
}


def event_mix_cdf() -> np.ndarray:
    """Cumulative event-type probabilities, shape (use_case, role, event) (rows end at 1)."""
    out = np.zeros((len(USE_CASES), len(ROLES), len(EVENTS)))
    for u, uc in enumerate(USE_CASES):
        for r, role in enumerate(ROLES):
            w = np.zeros(len(EVENTS))
            for name, weight in _MIX[role].items():
                w[EV[name]] = weight * _USE_CASE_TILT[uc].get(name, 1.0)
            out[u, r] = np.cumsum(w / w.sum())
    out[..., MIX_END - 1 :] = 1.0
    return out


# Events gated by a milestone: before the account reaches it they cannot happen (replaced by
# dashboard_viewed). Index into the milestone arrays of `Accounts`.
GATED = {
    "integration_synced": "integration",
    "integration_connected": "integration",
    "workflow_completed": "workflow",
    "automation_launched": "automation",
}

# Extra per-active-user-day rates of the friction events (Poisson means) in a healthy account.
BASE_ERROR_RATE = 0.02  # integration_error, admins and builders, once an integration exists
BASE_TICKET_RATE = 0.006  # support_ticket_opened, any role

# ---------------------------------------------------------------- mechanisms
MECHANISMS = (
    "champion_left",
    "integration_broken",
    "onboarding_stalled",
    "support_overload",
    "random_onset",
    "seasonal_dip",
    # planted for the adoption map (simulator.planted): an integration hub without an early
    # webhook abandons the product; decided at signup like onboarding_stalled, no hazard.
    "integration_gap",
)
(
    CHAMPION_LEFT,
    INTEGRATION_BROKEN,
    ONBOARDING_STALLED,
    SUPPORT_OVERLOAD,
    RANDOM_ONSET,
    SEASONAL_DIP,
    INTEGRATION_GAP,
) = range(7)
DECAY_KINDS = (
    CHAMPION_LEFT,
    INTEGRATION_BROKEN,
    ONBOARDING_STALLED,
    SUPPORT_OVERLOAD,
    RANDOM_ONSET,
)
# Daily onset hazard of each hazard-driven mechanism for a healthy account (index: mechanism;
# onboarding_stalled is decided at signup, not by a hazard; integration_gap, also decided at
# signup, has no entry: only these six kinds are hazard-driven). Multiplied by 1/engagement.
HAZARD = np.array([1 / 800, 1 / 700, 0.0, 1 / 1000, 1 / 1200, 1 / 2200])
# Seasonal dips mostly start in August and the second half of December (x this factor).
SEASONAL_DIP_PEAK = 10.0
# No hazard-driven onset in an account's first days (onboarding is its own mechanism).
HAZARD_MIN_AGE_DAYS = 30
# Probability that an account stalls in onboarding, by tier.
STALL_P = np.array([0.16, 0.10, 0.05])
STALL_EXPECTED_DAY = 21  # first completed workflow expected by then (conf milestones)
# Kinds decided at signup: the truth oracle knows them from the start, whatever the cutoff.
SIGNUP_KINDS = np.array([ONBOARDING_STALLED, INTEGRATION_GAP])
# Usage floor (engagement multiplier the decay tends to), by mechanism x tier. Lower = harder.
# Champion loss hurts smb far more than enterprise; broken integrations hurt integration-heavy
# enterprises most.
FLOOR = np.array(
    [
        [0.08, 0.30, 0.75],  # champion_left
        [0.45, 0.22, 0.12],  # integration_broken
        [0.08, 0.18, 0.40],  # onboarding_stalled
        [0.15, 0.25, 0.40],  # support_overload
        [0.25, 0.25, 0.25],  # random_onset (drawn 0.05..0.45 around this)
        [0.65, 0.65, 0.65],  # seasonal_dip (drawn 0.5..0.8)
        [0.0, 0.0, 0.0],  # integration_gap (simulator.planted: abandoned, usage tends to 0)
    ]
)
# Lead time (days) between onset (visible leading signal) and the start of the usage fall.
LAG_RANGE = np.array([[7, 28], [10, 24], [5, 14], [14, 30], [0, 0], [0, 0], [0, 10]])
# Days the decayed state lasts before a recovery starts (if the account did not churn).
DURATION_RANGE = np.array(
    [[60, 180], [45, 150], [90, 240], [50, 150], [60, 180], [7, 21], [400, 400]]
)
RECOVERY_RANGE = np.array([[14, 35], [7, 21], [21, 42], [14, 35], [14, 35], [3, 10], [30, 30]])
TAU_RANGE = np.array([[7, 21], [5, 14], [10, 25], [7, 18], [7, 28], [1, 1], [2, 5]])
# Probability that a decay episode ends in churn at a renewal, by tier.
CHURN_P = np.array([0.55, 0.35, 0.15])
CHURN_MIN_DAYS_AFTER_FALL = 21
# Champion loss: the other admins' activity drops at once (a leading signal in the role family).
ADMIN_FACTOR_AFTER_CHAMPION = 0.5
# Leading-signal intensities (added per active user-day).
ERROR_SPIKE_RATE = 1.4  # integration_error after integration_broken (admins, builders)
TICKET_PILEUP_RATE = 0.45  # support_ticket_opened rising to this under support_overload

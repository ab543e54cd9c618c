"""The ``score`` config section as the plain values scoring, cause attribution and the playbook read.

Why its own module: cause attribution and scoring both need these values, and scoring calls cause
attribution; with the parameters beside the scorer the two modules imported each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import EvalConfig, ScoreConfig

#: The typed ``score`` section's defaults: the one source of ScoreParams' defaults too.
_SCORE = ScoreConfig()


@dataclass
class ScoreParams:
    """The ``score`` config section (plus ``eval.capacity``) as plain values. Defaults are the
    schema's (core/config.py ``ScoreConfig``, ``EvalConfig``), so ``ScoreParams()`` and
    ``ScoreParams.from_cfg(default config)`` agree by construction."""

    tier_mode: str = _SCORE.tier_mode
    tier_thresholds: dict[str, float] = field(default_factory=lambda: dict(_SCORE.tier_thresholds))
    tier_shares: dict[str, float] = field(default_factory=lambda: dict(_SCORE.tier_shares))
    capacity: int = EvalConfig.capacity
    top_drivers: int = _SCORE.top_drivers
    top_protective: int = _SCORE.top_protective
    chunk_rows: int = _SCORE.chunk_rows
    explainer: str = _SCORE.explainer
    n_jobs: int = _SCORE.n_jobs
    # Cause attribution (see `cause_attribution` and core/config.py ScoreConfig).
    cause_families: tuple[str, ...] = tuple(_SCORE.cause_families)
    cause_min_contribution: float = _SCORE.cause_min_contribution
    cause_min_share: float = _SCORE.cause_min_share
    cause_relative_to: str = _SCORE.cause_relative_to
    # A cause must be higher than for this share of its segment peers (0 = off).
    cause_min_peer_percentile: float = _SCORE.cause_min_peer_percentile
    cause_loss_families: tuple[str, ...] = tuple(_SCORE.cause_loss_families)
    # ``features.never_days``: the value a "days since X" feature takes when X never happened.
    # None = no sentinel (numbers are shown as they are).
    never_days: float | None = None

    @classmethod
    def from_cfg(cls, cfg: Any) -> ScoreParams:
        s = cfg.score
        return cls(
            tier_mode=str(s.tier_mode),
            tier_thresholds={str(k): float(v) for k, v in s.tier_thresholds.items()},
            tier_shares={str(k): float(v) for k, v in s.tier_shares.items()},
            capacity=int(cfg.eval.capacity),
            top_drivers=int(s.top_drivers),
            top_protective=int(s.top_protective),
            chunk_rows=int(s.chunk_rows),
            explainer=str(s.explainer),
            n_jobs=int(s.n_jobs),
            cause_families=tuple(str(f) for f in s.cause_families),
            cause_min_contribution=float(s.cause_min_contribution),
            cause_min_share=float(s.cause_min_share),
            cause_relative_to=str(s.cause_relative_to),
            cause_min_peer_percentile=float(s.cause_min_peer_percentile),
            cause_loss_families=tuple(str(f) for f in s.cause_loss_families),
            never_days=float(cfg.features.never_days),
        )

"""Peer-relative family: where does this account stand among its peers at the same cutoff?

Peers are the eligible accounts in the same ``features.peer_segment`` at the same cutoff (the
whole population at that cutoff when the segment column is not available). Only values known at
``t`` are ranked, so peers leak nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

GROUP = ("cutoff", "_peer")


def percentile(col: str) -> pl.Expr:
    """(average rank - 1) / (n - 1) within the peer group: 0 lowest, 1 highest, ties share the
    mean; 0.5 when the account is alone; null when its value is null (n counts non-null)."""
    x = pl.col(col)
    n = x.count().over(*GROUP)
    r = x.rank("average").over(*GROUP).cast(pl.Float64)
    return pl.when(x.is_null()).then(None).when(n <= 1).then(0.5).otherwise((r - 1) / (n - 1))


def peer(metrics: Sequence[str]) -> dict[str, pl.Expr]:
    """<metric>_peer_pct for each configured metric (must be a feature of another family)."""
    return {f"{m}_peer_pct": percentile(m) for m in metrics}

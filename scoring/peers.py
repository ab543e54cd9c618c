"""Segment peers: who an account is compared with, and their medians at the same cutoff.

Population-level by contract: computed over the whole feature frame of a cutoff, never a chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


# -- peers -----------------------------------------------------------------------------------
def peer_column(features: pl.DataFrame, peer_segment: str | None) -> pl.Expr:
    """The peer group of each row: ``peer_segment`` when the frame has it, else one group."""
    if peer_segment and peer_segment in features.columns:
        return pl.col(peer_segment).cast(pl.String).fill_null("(none)")
    return pl.lit("all")


def peer_medians(
    features: pl.DataFrame,
    feature_names: Sequence[str],
    peer_segment: str | None,
    share_features: Sequence[str] = (),
) -> pl.DataFrame:
    """Long ``_peer, feature, peer_median``: median of each numeric feature over ALL accounts of
    the same peer segment in ``features`` (one cutoff). Nulls are ignored by the median.

    ``share_features`` (0/1 flags such as ``<milestone>_reached``) get the peer *share* (mean)
    instead: the median of a flag is only 0 or 1, and the catalogue sentences say "share"."""
    numeric = [
        f
        for f in feature_names
        if features.schema.get(f) in (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int8)
    ]
    if not numeric:
        return pl.DataFrame(
            schema={"_peer": pl.String, "feature": pl.String, "peer_median": pl.Float64}
        )
    return (
        features.with_columns(peer_column(features, peer_segment).alias("_peer"))
        .group_by("_peer")
        .agg(
            [
                pl.col(f).cast(pl.Float64).mean()
                if f in share_features
                else pl.col(f).cast(pl.Float64).median()
                for f in numeric
            ]
        )
        .unpivot(index="_peer", variable_name="feature", value_name="peer_median")
    )

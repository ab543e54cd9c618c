"""Realistic B2B SaaS product simulator with planted decay mechanisms and a truth oracle.

``simulate(spec)`` returns the canonical ``events``/``users``/``accounts`` tables and ``truth``
(P(usage_drop label | everything the simulator knows at each cutoff), cause, cause onset), plus
the adoption map's ground truth (``map_truth``: the planted behaviours' true risk differences at
the landmarks per segment; ``ttv_truth``: true median days to each milestone per segment).
Modules: ``world`` (parameters), ``calendar`` (rhythms), ``entities`` (accounts, rosters),
``mechanisms`` (decay episodes), ``activity`` (events), ``planted`` (behaviours planted for the
adoption map, with their truth), ``oracle`` (truth), ``core`` (wiring).
"""

from simulator.core import (
    Simulation,
    SimulationSpec,
    cutoffs_from_config,
    simulate,
    spec_from_config,
)
from simulator.oracle import LabelSpec

__all__ = [
    "LabelSpec",
    "Simulation",
    "SimulationSpec",
    "cutoffs_from_config",
    "simulate",
    "spec_from_config",
]

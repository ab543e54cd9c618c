"""Episode curves, renewals and segment strengths: invariants (hypothesis) and exact values."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import world
from simulator.entities import draw_accounts
from simulator.mechanisms import Episodes, draw_episodes, episode_curves


def _episode(
    kind: int, onset: int, lag: int, floor: float, tau: float, dur: int, rec: int
) -> Episodes:
    a = np.array
    return Episodes(
        row=a([0]),
        acct=a([0]),
        kind=a([kind]),
        onset=a([onset]),
        lag=a([lag]),
        floor=a([floor]),
        tau=a([tau]),
        dur=a([dur]),
        rec=a([rec]),
        churn=a([world.NEVER]),
        end=a([onset + lag + dur + rec]),
    )


def test_exact_curve_values() -> None:
    ep = _episode(world.INTEGRATION_BROKEN, onset=10, lag=5, floor=0.2, tau=10.0, dur=20, rec=10)
    eng, admin, err, tick = episode_curves(ep, np.array([9, 10, 14, 15, 25, 35, 40, 45]))
    v_end = 0.2 + 0.8 * np.exp(-2.0)
    np.testing.assert_allclose(
        eng[0], [1, 1, 1, 1, 0.2 + 0.8 * np.exp(-1.0), v_end, v_end + (1 - v_end) * 0.5, 1]
    )
    np.testing.assert_allclose(
        err[0],
        [
            0,
            world.ERROR_SPIKE_RATE / 3,
            world.ERROR_SPIKE_RATE,
            world.ERROR_SPIKE_RATE,
            world.ERROR_SPIKE_RATE,
            0,
            0,
            0,
        ],
    )
    assert (admin == 1).all() and (tick == 0).all()


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from([*world.DECAY_KINDS, world.SEASONAL_DIP]),
    lag=st.integers(0, 30),
    floor=st.floats(0.02, 0.95),
    tau=st.floats(1, 30),
    dur=st.integers(1, 200),
    rec=st.integers(1, 40),
)
def test_curve_invariants(
    kind: int, lag: int, floor: float, tau: float, dur: int, rec: int
) -> None:
    onset = 50
    ep = _episode(kind, onset, lag, floor, tau, dur, rec)
    days = np.arange(0, onset + lag + dur + rec + 20)
    eng, admin, err, tick = (x[0] for x in episode_curves(ep, days))
    assert (eng <= 1 + 1e-12).all() and (eng >= floor - 1e-12).all()
    assert (eng[days < onset + lag] == 1).all()  # usage only falls after the lead time
    assert (eng[days >= ep.end[0]] == 1).all()  # recovered after the episode
    assert (err[days < onset] == 0).all() and (tick[days < onset] == 0).all()
    assert (err > 0).any() == (kind == world.INTEGRATION_BROKEN)
    assert (tick > 0).any() == (kind == world.SUPPORT_OVERLOAD)
    assert (admin < 1).any() == (kind == world.CHAMPION_LEFT)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), day=st.integers(0, 2000))
def test_next_renewal_is_the_first_term_boundary_on_or_after(seed: int, day: int) -> None:
    acc = draw_accounts(np.random.default_rng(seed), 20, 400)
    acct = np.arange(20)
    d = np.maximum(np.full(20, day), acc.created + 1)
    r = acc.next_renewal(acct, d)
    assert (r >= d).all() and (r - acc.term < d).all()
    assert ((r - acc.created) % acc.term == 0).all()


def test_champion_loss_hurts_smb_more_than_enterprise() -> None:
    rng = np.random.default_rng(0)
    acc = draw_accounts(rng, 3000, 400)
    acct = np.arange(acc.n)
    ep = draw_episodes(rng, acc, acct, acct, np.full(acc.n, world.CHAMPION_LEFT), acc.created + 40)
    floor = {t: ep.floor[acc.tier == i].mean() for i, t in enumerate(world.TIERS)}
    assert floor["smb"] < floor["mid"] < floor["enterprise"]
    churn = {t: (ep.churn[acc.tier == i] < world.NEVER).mean() for i, t in enumerate(world.TIERS)}
    assert churn["smb"] > churn["enterprise"]

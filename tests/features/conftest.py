from __future__ import annotations

import pytest

from core.config import load_config


@pytest.fixture(scope="session")
def cfg_t0():
    """Default config with a single cutoff at 2026-03-01."""
    return load_config(["snapshot.as_of=2026-03-01", "snapshot.count=1"])

"""Shared test configuration: real data lives in ../shared/data (relative to the repository root)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _torch_threads():
    # keep per-test CPU use predictable on small CI machines
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)

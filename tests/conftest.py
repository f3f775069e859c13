"""Shared fixtures: the bundled CDNOW data (loaded once per session) and a headless matplotlib."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: tests never open windows

import pandas as pd
import pytest

import retention_lab as rl


@pytest.fixture(scope="session")
def cdnow_sample() -> pd.DataFrame:
    """The CDNOW 1/10 sample: 6,919 transactions of 2,357 customers."""
    return rl.datasets.load_cdnow(sample=True)


@pytest.fixture(scope="session")
def cdnow_master() -> pd.DataFrame:
    """The full CDNOW master file: 69,659 transactions of 23,570 customers."""
    return rl.datasets.load_cdnow(sample=False)


@pytest.fixture
def cdnow(cdnow_sample) -> pd.DataFrame:
    """A private copy of the sample, for tests that modify it."""
    return cdnow_sample.copy()

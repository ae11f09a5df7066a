"""Reliability and security battery (issue 8): markers and shared fixtures."""

import pytest

from reliability_support import make_host


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: the large fault matrix and the kill -9 runs; CI runs them too (deselect with -m 'not slow')",
    )


@pytest.fixture(autouse=True)
def no_simulator_from_environment(monkeypatch):
    """Every test names its simulated host explicitly (or deliberately none)."""
    monkeypatch.delenv("GPUOPS_MIG_SIMULATOR", raising=False)


@pytest.fixture
def host_factory(tmp_path):
    """host_factory(preset, mig=True, name=None, **simulated host options) -> state file path."""

    def make(preset, mig=True, name=None, **options):
        return make_host(tmp_path / "hosts", preset, mig=mig, name=name, **options)

    (tmp_path / "hosts").mkdir()
    return make

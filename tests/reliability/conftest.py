"""Reliability and security battery (issue 8): markers and shared fixtures."""

import os
import shutil
import tempfile

import pytest

from reliability_support import make_host

#: Simulated hosts write their state (and runs their journal) with fsync after every
#: change; on tmpfs that costs nothing, which keeps the matrix within its time budget.
MEMORY_FILESYSTEM = "/dev/shm"


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
def host_dir(tmp_path):
    """A directory for simulated hosts: on tmpfs where there is one, else under tmp_path."""
    if os.path.isdir(MEMORY_FILESYSTEM) and os.access(MEMORY_FILESYSTEM, os.W_OK):
        directory = tempfile.mkdtemp(prefix="gpuops-reliability-", dir=MEMORY_FILESYSTEM)
        yield directory
        shutil.rmtree(directory, ignore_errors=True)
    else:
        directory = tmp_path / "hosts"
        directory.mkdir()
        yield str(directory)


@pytest.fixture
def host_factory(host_dir):
    """host_factory(preset, mig=True, name=None, **simulated host options) -> state file path."""

    def make(preset, mig=True, name=None, **options):
        return make_host(host_dir, preset, mig=mig, name=name, **options)

    return make

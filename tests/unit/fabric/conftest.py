"""Fixtures of the Fabric Manager unit tests (helpers live in fabric_recordings.py)."""

import pytest
from fabric_recordings import recorded_partitions


@pytest.fixture
def h100_partitions():
    return recorded_partitions("fmpm_list_dgx_h100.txt")


@pytest.fixture
def a100_partitions():
    return recorded_partitions("fmpm_list_dgx_a100.txt")

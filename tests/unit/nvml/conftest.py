"""Fixtures of the NVML layer tests: simulated hosts in a temporary directory."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host


@pytest.fixture
def make_host(tmp_path):
    """make_host(preset, **options) -> state file path of a new simulated host."""

    def make(preset, **options):
        path = str(tmp_path / ("%s.json" % preset))
        host.create_host(path, preset, **options)
        return path

    return make


@pytest.fixture
def open_hardware():
    """open_hardware(path) -> Hardware on that simulated host, closed after the test."""
    opened = []

    def open_(path):
        hardware = Hardware(simulator=path)
        opened.append(hardware)
        return hardware

    yield open_
    for hardware in opened:
        hardware.close()

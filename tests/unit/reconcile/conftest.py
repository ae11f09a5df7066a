"""Fixtures for the reconcile engine tests."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

from reconcile_support import enable_mig


@pytest.fixture
def make_host(tmp_path):
    """make_host(preset, mig=True, **simulated host options) -> state file path."""
    count = [0]

    def make(preset="dgx-h100", mig=True, **options):
        count[0] += 1
        path = str(tmp_path / ("%s-%d.json" % (preset, count[0])))
        simulated_host.create_host(path, preset, **options)
        if mig:
            enable_mig(path)
        return path

    return make

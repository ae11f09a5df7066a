"""Helpers for the reconcile engine tests: simulated hosts driven through the real NVML path
(``_nvml.Hardware`` over pynvml over the simulated library). A module of its own (not
conftest) so that test files import it by a name no other test directory uses."""

import contextlib
import json
import os
import subprocess
import sys

from ansible_collections.gpuops.mig.plugins.module_utils import _execution, _host, _reconcile
from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

from journal_watch import wait_for_journal_steps

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child_run.py")


@contextlib.contextmanager
def opened(path):
    hardware = Hardware(simulator=path)
    try:
        yield hardware
    finally:
        hardware.close()


def enable_mig(path):
    """MIG on for every GPU, set up directly through Hardware (not the code under test)."""
    with opened(path) as hardware:
        for device in hardware.devices():
            if hardware.set_mig_mode(device.index, True) is not None or not hardware.device(device.index).mig_current:
                hardware.reset_gpu(device.index)


def apply(path, layout=None, gpus=None, check_mode=False, diff=False, **options):
    """Run mig_instance's engine once with a layout (None: state=absent)."""
    with opened(path) as hardware:
        return run_change(hardware, layout, gpus, check_mode, diff, **options)


def run_change(hardware, layout, gpus=None, check_mode=False, diff=False, lock_timeout=5, **options):
    params = {"state": "present" if layout is not None else "absent", "layout": layout}
    desired = desired_state(params, hardware, hardware.select(gpus))
    change = _reconcile.InstanceChange(hardware, desired, **options)
    return change.run(check_mode=check_mode, diff=diff, lock_timeout=lock_timeout)


def layouts(path):
    """{GPU index: layout view} read from the host."""
    with opened(path) as hardware:
        return dict((device.index, _reconcile.layout_view(_execution.instance_records(hardware, device.index))) for device in hardware.devices())


def mig_uuids(path):
    """{(GPU, GI placement start): sorted MIG UUIDs of that GPU instance}."""
    with opened(path) as hardware:
        return dict(
            ((device.index, record["placement"][0]), sorted(c["mig_uuid"] for c in record["compute_instances"]))
            for device in hardware.devices()
            for record in _execution.instance_records(hardware, device.index)
        )


def mutating_calls(path):
    return dict(simulated_host.describe_host(path)["mutating_calls"])


def journal_path(path):
    return _host.host_files(path)[1]


def interrupt_run(path, layout, steps_per_gpu, gpus=None):
    """Start a run in a child process and SIGKILL it once its journal records at least
    ``steps_per_gpu`` completed steps on every GPU (the host needs latency so the run is
    slow enough to be caught part way)."""
    child = subprocess.Popen([sys.executable, CHILD, path, json.dumps(layout), json.dumps(gpus)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_journal_steps(child, journal_path(path), steps_per_gpu, poll=0.01)
        assert child.poll() is None, "the run finished before it could be interrupted: %s" % (child.communicate(),)
    finally:
        child.kill()
        child.communicate()
    assert os.path.exists(journal_path(path))

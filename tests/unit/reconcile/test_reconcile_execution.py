"""Plan execution: exact check mode, no-change runs, rollback on NVML failures, busy
instances, and one worker per GPU (ParallelReconfigure)."""

import os
import socket
import threading

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _converge, _execution
from ansible_collections.gpuops.mig.plugins.module_utils._errors import PlacementError
from ansible_collections.gpuops.mig.plugins.module_utils._feature_gates import resolve
from ansible_collections.gpuops.mig.plugins.module_utils._module import Session
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

from reconcile_support import apply, journal_path, layouts, mig_uuids, mutating_calls, opened

DRIVER_IDS = ("gi_id", "ci_id", "mig_uuid")


def _without_driver_ids(actions):
    return [dict((key, value) for key, value in action.items() if key not in DRIVER_IDS) for action in actions]


@pytest.mark.parametrize(
    "preset, transitions",
    [
        (
            "dgx-h100",
            [
                ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"],
                [{"profile": "3g.40gb", "placement": 4, "compute_instances": ["1c", "1c", "1c"]}, "4g.40gb"],
                ["1c.2g.20gb", {"profile": "1g.10gb+me", "placement": "6:1"}, "3g.40gb"],
                ["7g.80gb"],
                None,
            ],
        ),
        (
            "rtx-pro-6000-x4",
            [
                ["2g.48gb", "1g.24gb+gfx", "1g.24gb-me"],
                [{"profile": "2g.48gb", "compute_instances": ["1c", "1c"]}, "2g.48gb+gfx"],
                ["4g.96gb"],
            ],
        ),
    ],
)
def test_check_mode_predicts_exactly_what_the_run_does(make_host, preset, transitions):
    simulator = make_host(preset)
    for layout in transitions:
        calls = mutating_calls(simulator)
        predicted = apply(simulator, layout, check_mode=True, diff=True)
        assert mutating_calls(simulator) == calls  # check mode changes nothing
        done = apply(simulator, layout, diff=True)
        assert predicted["changed"] is done["changed"] is True
        assert _without_driver_ids(predicted["actions"]) == _without_driver_ids(done["actions"])
        assert predicted["diff"] == done["diff"]
        assert done["diff"]["after"] == dict(("gpu%d" % index, view) for index, view in layouts(simulator).items())


def test_a_run_without_changes_makes_no_mutating_call_and_writes_no_journal(make_host):
    simulator = make_host("dgx-a100")
    layout = ["3g.20gb", "2g.10gb", {"profile": "1g.5gb", "count": 2}]
    first = apply(simulator, layout)
    assert first["changed"] and len(first["mig_devices"]) == 8 * 4
    calls = mutating_calls(simulator)
    for check_mode in (True, False):
        again = apply(simulator, layout, check_mode=check_mode)
        assert again["changed"] is False and again["actions"] == []
        assert again["mig_devices"] == first["mig_devices"]
    assert mutating_calls(simulator) == calls
    assert not os.path.exists(journal_path(simulator))


def test_a_failing_call_rolls_every_gpu_back_and_names_host_gpu_call_and_error(make_host):
    simulator = make_host("dgx-h100")
    apply(simulator, ["3g.40gb", "2g.20gb", "1g.10gb", "1g.10gb"], gpus=["0", "1", "2", "3"])
    before, uuids = layouts(simulator), mig_uuids(simulator)
    simulated_host.update_host(
        simulator,
        faults=[{"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "error": "NVML_ERROR_INSUFFICIENT_RESOURCES", "gpu": 2}],
    )
    with pytest.raises(_execution.RunFailed) as raised:
        apply(simulator, ["4g.40gb", "3g.40gb"], gpus=["0", "1", "2", "3"])
    failure = raised.value
    message = str(failure)
    assert socket.gethostname() in message and "GPU 2 (GPU-" in message
    assert "nvmlDeviceCreateGpuInstanceWithPlacement" in message and "NVML_ERROR_INSUFFICIENT_RESOURCES" in message
    details = failure.details()
    assert details["call"] == "nvmlDeviceCreateGpuInstanceWithPlacement" and details["gpu"] == 2
    assert details["rollback"] and all(step["ok"] for step in details["rollback"])
    assert layouts(simulator) == before
    # the 3g.40gb at 4:4 was kept by the plan: never touched, so its MIG device is the same
    assert all(mig_uuids(simulator)[(gpu, 4)] == uuids[(gpu, 4)] for gpu in range(4))
    # GPUs outside the run were not touched at all
    assert all(mig_uuids(simulator)[(gpu, start)] == uuid for (gpu, start), uuid in uuids.items() if gpu >= 4)
    assert details["instances"]["gpu2"] and not os.path.exists(journal_path(simulator))


def test_a_rollback_that_fails_too_is_reported_with_what_exists(make_host):
    simulator = make_host("a30-x4")
    apply(simulator, ["2g.12gb", "2g.12gb"], gpus=["1"])
    simulated_host.update_host(
        simulator,
        faults=[{"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "error": "NVML_ERROR_UNKNOWN", "gpu": 1, "persistent": True}],
    )
    with pytest.raises(_execution.RunFailed) as raised:
        apply(simulator, ["4g.24gb"], gpus=["1"])
    details = raised.value.details()
    failed = dict((step["action"], step["error"]) for step in details["rollback"] if not step["ok"])
    assert "NVML_ERROR_UNKNOWN" in failed["create_gpu_instance"]
    assert "was not created" in failed["create_compute_instance"]
    assert "rollback step(s) failed" in str(raised.value)
    assert details["instances"]["gpu1"] == [] == layouts(simulator)[1]  # what exists, as it is


def test_busy_instances_are_only_destroyed_with_force(make_host):
    simulator = make_host("dgx-h100")
    apply(simulator, ["3g.40gb", "3g.40gb"], gpus=["0", "1"])
    with opened(simulator) as hardware:
        busy = next(gi for gi in hardware.gpu_instances(1) if gi.placement.start == 0)
    simulated_host.update_host(simulator, processes=[{"pid": 4242, "gpu": 1, "gi_id": busy.gi_id, "ci_id": 0}])
    before = layouts(simulator)
    with pytest.raises(PlacementError) as refused:
        apply(simulator, ["7g.80gb"], gpus=["0", "1"])
    assert "gi %d" % busy.gi_id in str(refused.value) and refused.value.details()["blocking"][0]["processes"] == [4242]
    assert layouts(simulator) == before
    # with force the plan would destroy it, which NVML refuses while the process holds it:
    # refused before the first change, and check mode predicts exactly that
    calls = mutating_calls(simulator)
    for check_mode in (True, False):
        with pytest.raises(PlacementError) as forced:
            apply(simulator, ["7g.80gb"], gpus=["0", "1"], force=True, check_mode=check_mode)
        assert "processes 4242" in str(forced.value) and "IN_USE" in str(forced.value)
        assert forced.value.details()["blocking"][0]["gi_id"] == busy.gi_id
    assert layouts(simulator) == before and mutating_calls(simulator) == calls


class ConcurrencyProbe(object):
    """Hardware that records how many GPU-instance creations run at the same time. With
    ``meet``, the first creation on each GPU waits until that many workers are inside."""

    def __init__(self, hardware, meet=None):
        self._hardware = hardware
        self._mutex = threading.Lock()
        self._barrier = threading.Barrier(meet, timeout=30) if meet else None
        self._met = set()
        self.in_flight = self.most = 0

    def __getattr__(self, name):
        return getattr(self._hardware, name)

    def create_gpu_instance(self, index, *args):
        with self._mutex:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            meets = self._barrier is not None and index not in self._met and len(self._met) < self._barrier.parties
            self._met.add(index)
        try:
            if meets:
                self._barrier.wait()
            return self._hardware.create_gpu_instance(index, *args)
        finally:
            with self._mutex:
                self.in_flight -= 1


def _session(hardware, gates, **params):
    options = dict(
        state="present",
        layout=["3g.40gb", "3g.40gb"],
        requirements=None,
        mig_parted_config=None,
        placement_strategy=None,
        disruption="minimal",
        sharing_strategy="none",
        force=False,
        parallel=None,
        lock_timeout=5,
    )
    options.update(params)
    return Session(options, False, False, resolve(gates), hardware, hardware.select())


@pytest.mark.parametrize("gates, parallel, meet, most", [({}, None, 8, 8), ({}, 3, 3, 3), ({"ParallelReconfigure": False}, None, None, 1)])
def test_gpus_are_reconfigured_by_one_worker_each(make_host, gates, parallel, meet, most):
    simulator = make_host("dgx-h100")
    with opened(simulator) as hardware:
        probe = ConcurrencyProbe(hardware, meet)
        result = _converge.converge(_session(probe, gates, parallel=parallel))
    assert probe.most == most
    assert len(result["mig_devices"]) == 16


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100"])
def test_state_absent_on_gpus_without_mig_is_a_no_change_run(make_host, preset):
    simulator = make_host(preset, mig=False)
    calls = mutating_calls(simulator)
    result = apply(simulator, None)
    assert result["changed"] is False
    assert mutating_calls(simulator) == calls
    with opened(simulator) as hardware:
        assert not any(device.mig_current for device in hardware.devices())


def test_compute_instances_are_created_so_that_each_finds_a_start(make_host):
    # On B200 a 2c compute instance in a 3g GPU instance can only start at slice 0: asked
    # for as [1c, 2c], the driver would put the 1c there first and refuse the 2c.
    simulator = make_host("dgx-b200")
    layout = [{"profile": "3g.90gb", "placement": 4, "compute_instances": ["1c", "2c"]}]
    predicted = apply(simulator, layout, gpus=[0], check_mode=True)
    done = apply(simulator, layout, gpus=[0])
    assert predicted["changed"] is done["changed"] is True
    assert layouts(simulator)[0] == ["3g.90gb@4:4 [1c.3g.90gb, 2c.3g.90gb]"]
    assert apply(simulator, layout, gpus=[0])["changed"] is False

"""MIG mode changes: resets only where pending, GPU clients stopped and started again
(also on failure), instances guard a disable, check mode predicts the run."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _execution, _reconcile
from ansible_collections.gpuops.mig.plugins.module_utils._errors import PlacementError
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

from reconcile_support import apply, layouts, opened


def change(path, enabled, gpus=None, check_mode=False, **options):
    with opened(path) as hardware:
        return _reconcile.MigModeChange(hardware, hardware.select(gpus), enabled, **options).run(check_mode=check_mode, diff=True)


def resets(path):
    return [gpu["resets"] for gpu in simulated_host.describe_host(path)["gpus"]]


def modes(path):
    return [(gpu["mig_current"], gpu["mig_pending"]) for gpu in simulated_host.describe_host(path)["gpus"]]


@pytest.mark.parametrize("preset, needs_reset", [("a30-x4", True), ("rtx-pro-6000-x4", False)])
def test_check_mode_predicts_the_run_and_only_pending_gpus_are_reset(make_host, preset, needs_reset):
    simulator = make_host(preset, mig=False)
    change(simulator, True, gpus=["0", "1"])
    assert resets(simulator) == ([1, 1, 0, 0] if needs_reset else [0, 0, 0, 0])
    predicted = change(simulator, True, check_mode=True)
    assert resets(simulator) == ([1, 1, 0, 0] if needs_reset else [0, 0, 0, 0])
    done = change(simulator, True)
    assert predicted["gpus"] == done["gpus"] and predicted["diff"] == done["diff"]
    assert [action["gpu"] for action in done["actions"] if action["action"] == "set_mig_mode"] == [2, 3]
    assert resets(simulator) == ([1, 1, 1, 1] if needs_reset else [0, 0, 0, 0])
    assert [gpu["reset"] for gpu in done["gpus"]] == [False, False, needs_reset, needs_reset]
    assert modes(simulator) == [(True, True)] * 4


def test_gpu_clients_are_started_again_when_the_change_fails(make_host):
    # a service outside gpu_clients keeps GPU 2 busy: its reset fails
    simulator = make_host("a30-x4", mig=False, units={"nvidia-dcgm": {"active": True}, "trainer": {"active": True, "gpus": [2]}})
    with pytest.raises(_execution.RunFailed) as raised:
        change(simulator, True, gpu_clients=["nvidia-dcgm", "nvidia-k8s-device-plugin"])
    assert raised.value.details()["call"] == "nvidia-smi --gpu-reset" and raised.value.details()["gpu"] == 2
    assert [action["action"] for action in raised.value.details()["actions"] if "unit" in action] == ["stop_unit", "start_unit"]
    assert simulated_host.unit_states(simulator) == {"nvidia-dcgm": True, "nvidia-k8s-device-plugin": False, "trainer": True}
    assert resets(simulator) == [1, 1, 0, 0]  # GPUs before the busy one were reset, none after


def test_disabling_with_instances_names_them_unless_forced(make_host):
    simulator = make_host("dgx-h100")
    apply(simulator, ["3g.40gb", "1g.10gb"], gpus=["1"])
    with pytest.raises(PlacementError) as refused:
        change(simulator, False)
    message = str(refused.value)
    assert "GPU 1: GI" in message and "3g.40gb at 4:4" in message and "1g.10gb" in message and "force" in message
    assert modes(simulator) == [(True, True)] * 8 and len(layouts(simulator)[1]) == 2
    done = change(simulator, False, force=True)
    destroyed = [action for action in done["actions"] if action["action"] == "destroy_gpu_instance"]
    assert sorted(action["profile"] for action in destroyed) == ["1g.10gb", "3g.40gb"]
    assert modes(simulator) == [(False, False)] * 8 and resets(simulator) == [0] * 8


def test_a_passthrough_host_or_reset_never_asks_for_a_reboot(make_host):
    for simulator, options in ((make_host("a30-x4", mig=False, reset_supported=False), {}), (make_host("a30-x4", mig=False), {"reset": "never"})):
        result = change(simulator, True, **options)
        assert result["changed"] is True and result["reboot_required"] is True
        assert result["pending_gpus"] == [0, 1, 2, 3]
        assert modes(simulator) == [(False, True)] * 4 and resets(simulator) == [0] * 4
        again = change(simulator, True, **options)
        assert again["changed"] is False and again["reboot_required"] is True


@pytest.mark.parametrize("check_mode", [True, False])
def test_a_reset_that_processes_would_refuse_fails_before_any_change(make_host, check_mode):
    """Check mode predicts the failure the real run has, and the real run has it before
    the first change (not after resetting the GPUs before the busy one)."""
    simulator = make_host("a30-x4", mig=False, units={"nvidia-dcgm": {"active": True}})
    simulated_host.update_host(simulator, processes=[{"pid": 777, "gpu": 2, "name": "trainer"}])
    calls = simulated_host.describe_host(simulator)["mutating_calls"]
    with pytest.raises(PlacementError) as refused:
        change(simulator, True, check_mode=check_mode, gpu_clients=["nvidia-dcgm"])
    assert "GPU 2: processes 777" in str(refused.value) and refused.value.details()["gpu"] == 2
    assert simulated_host.describe_host(simulator)["mutating_calls"] == calls
    assert resets(simulator) == [0, 0, 0, 0] and modes(simulator) == [(False, False)] * 4
    assert simulated_host.unit_states(simulator)["nvidia-dcgm"] is True

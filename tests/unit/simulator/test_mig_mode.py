"""MIG mode current/pending, activation per architecture, GPU reset and reboot
(reference section 7)."""

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

ENABLE = pynvml.NVML_DEVICE_MIG_ENABLE
DISABLE = pynvml.NVML_DEVICE_MIG_DISABLE


def test_ampere_mode_stays_pending_until_the_gpu_is_reset(make_host):
    simulated = make_host("dgx-a100")
    handle = simulated.handle(0)
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_SUCCESS
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, ENABLE]
    assert pynvml.nvmlDeviceGetMigMode(simulated.handle(1)) == [DISABLE, DISABLE]
    host.reset_gpu(simulated.path, 0)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]
    assert host.describe_host(simulated.path)["gpus"][0]["resets"] == 1


@pytest.mark.parametrize("preset", ["dgx-h100", "dgx-b200", "rtx-pro-6000-x4", "gh200"])
def test_hopper_and_later_apply_the_mode_at_once(make_host, preset):
    simulated = make_host(preset)
    handle = simulated.handle(0)
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_SUCCESS
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]
    assert pynvml.nvmlDeviceSetMigMode(handle, DISABLE) == pynvml.NVML_SUCCESS
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, DISABLE]


def test_hopper_mode_stays_pending_while_a_gpu_client_holds_the_gpu(make_host):
    simulated = make_host("dgx-h100", units={"nvidia-dcgm": {"active": True}})
    handle = simulated.handle(0)
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_ERROR_IN_USE
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, ENABLE]
    assert host.set_unit_state(simulated.path, "nvidia-dcgm", False) is True
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_SUCCESS
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]


def test_a_process_keeps_the_mode_pending_and_blocks_reset(make_host):
    simulated = make_host("dgx-h100", processes=[{"pid": 100, "gpu": 2, "name": "train.py"}])
    handle = simulated.handle(2)
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_ERROR_IN_USE
    with pytest.raises(host.SimulatedHostError) as raised:
        host.reset_gpu(simulated.path, 2)
    assert raised.value.nvml_error == "NVML_ERROR_IN_USE"
    assert "pid 100" in str(raised.value)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, ENABLE]
    host.update_host(simulated.path, processes=[])
    host.reset_gpu(simulated.path, 2)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]


def test_reset_is_refused_while_an_active_unit_holds_the_gpu(make_host):
    simulated = make_host("dgx-a100", units={"nvidia-k8s-device-plugin": {"active": True, "gpus": [1]}})
    pynvml.nvmlDeviceSetMigMode(simulated.handle(1), ENABLE)
    with pytest.raises(host.SimulatedHostError) as raised:
        host.reset_gpu(simulated.path, 1)
    assert raised.value.nvml_error == "NVML_ERROR_IN_USE"
    host.reset_gpu(simulated.path, 0)


def test_passthrough_vm_needs_a_reboot_for_ampere_mode_changes(make_host):
    simulated = make_host("dgx-a100", reset_supported=False)
    handle = simulated.handle(0)
    assert pynvml.nvmlDeviceSetMigMode(handle, ENABLE) == pynvml.NVML_ERROR_RESET_REQUIRED
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, ENABLE]
    with pytest.raises(host.SimulatedHostError) as raised:
        host.reset_gpu(simulated.path, 0)
    assert raised.value.nvml_error == "NVML_ERROR_NOT_SUPPORTED"
    assert "reboot" in str(raised.value)
    host.reboot_host(simulated.path)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]


def test_disabling_mig_with_instances_present_is_in_use(mig_host):
    simulated = mig_host("dgx-h100")
    handle = simulated.handle(0)
    gpu_instance = simulated.create_gi(19)
    with pytest.raises(pynvml.NVMLError_InUse):
        pynvml.nvmlDeviceSetMigMode(handle, DISABLE)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [ENABLE, ENABLE]
    pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    pynvml.nvmlDeviceSetMigMode(handle, DISABLE)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [DISABLE, DISABLE]


def test_a_reset_clears_instances_and_invalidates_their_handles(mig_host):
    simulated = mig_host("dgx-a100")
    gpu_instance = simulated.create_gi(9)
    host.reset_gpu(simulated.path, 0)
    assert pynvml.nvmlDeviceGetMigMode(simulated.handle(0)) == [ENABLE, ENABLE]
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceGetInfo(gpu_instance)
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(simulated.handle(0), 9) == 2


def test_mig_mode_requests_are_validated(make_host):
    simulated = make_host("dgx-h100")
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceSetMigMode(simulated.handle(0), 2)

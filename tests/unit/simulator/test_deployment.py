"""What a simulated GPU says about the machine it is in: virtualization, persistence and
compute mode, the NVLink fabric probe, reserved memory, and whether a reset works. The
passthrough H200 values are the real capture's (reference/captures/h200-580.159.04)."""

import ctypes

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib, host, presets

H200_RESERVED_BYTES = 644939776  # real capture, nvmlDeviceGetMemoryInfo_v2 "reserved"
H200_TOTAL_BYTES = 143771 * 1024 * 1024


def fabric_info(handle):
    info = pynvml.c_nvmlGpuFabricInfo_v3_t()
    pynvml.nvmlDeviceGetGpuFabricInfoV(handle, ctypes.byref(info))
    return info


@pytest.mark.parametrize("preset, mode", [
    ("hgx-h200", pynvml.NVML_GPU_VIRTUALIZATION_MODE_NONE),
    ("h200-passthrough-vm", pynvml.NVML_GPU_VIRTUALIZATION_MODE_PASSTHROUGH),
    ("a100-passthrough-vm", pynvml.NVML_GPU_VIRTUALIZATION_MODE_PASSTHROUGH),
    ("hgx-h200-vgpu-host", pynvml.NVML_GPU_VIRTUALIZATION_MODE_HOST_VGPU),
])
def test_virtualization_mode_is_the_presets(make_host, preset, mode):
    simulated = make_host(preset)
    handle = simulated.handle(0)
    assert pynvml.nvmlDeviceGetVirtualizationMode(handle) == mode
    assert pynvml.nvmlDeviceGetPersistenceMode(handle) == pynvml.NVML_FEATURE_ENABLED
    assert pynvml.nvmlDeviceGetComputeMode(handle) == pynvml.NVML_COMPUTEMODE_DEFAULT


@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
def test_reset_works_except_in_a_guest(tmp_path, preset):
    state = host.create_host(str(tmp_path / "host.json"), preset)
    guest = presets.PRESETS[preset]["virtualization_mode"] in ("passthrough", "vgpu_guest")
    assert state["reset_supported"] is not guest


def test_passthrough_guest_refuses_reset_and_the_option_overrides_it(tmp_path):
    path = str(tmp_path / "vm.json")
    host.create_host(path, "a100-passthrough-vm")
    with pytest.raises(host.SimulatedHostError) as refused:
        host.reset_gpu(path, 0)
    assert refused.value.nvml_error == "NVML_ERROR_NOT_SUPPORTED"
    host.create_host(path, "a100-passthrough-vm", reset_supported=True, replace=True)
    assert host.reset_gpu(path, 0) == {"index": 0, "mig_current": False}


def test_gpu_without_nvswitch_answers_fabric_not_supported(make_host):
    info = fabric_info(make_host("h200-passthrough-vm").handle(0))
    assert (info.state, info.status, info.cliqueId, info.healthMask, info.healthSummary) == (
        pynvml.NVML_GPU_FABRIC_STATE_NOT_SUPPORTED, pynvml.NVML_SUCCESS, 0, 0, 0)
    assert list(info.clusterUuid) == [0] * 16


def test_nvswitch_fabric_completes_once_fabric_manager_runs(make_host):
    simulated = make_host("hgx-h200")
    fm_lib.set_fabric_manager_running(simulated.path, False)
    assert fabric_info(simulated.handle(0)).state == pynvml.NVML_GPU_FABRIC_STATE_NOT_STARTED
    fm_lib.set_fabric_manager_running(simulated.path, True)
    first, last = fabric_info(simulated.handle(0)), fabric_info(simulated.handle(7))
    assert first.state == pynvml.NVML_GPU_FABRIC_STATE_COMPLETED
    assert first.healthSummary == pynvml.NVML_GPU_FABRIC_HEALTH_SUMMARY_HEALTHY
    assert any(first.clusterUuid)
    assert (list(first.clusterUuid), first.cliqueId) == (list(last.clusterUuid), last.cliqueId)


def test_fabric_probe_does_not_exist_before_hopper(make_host):
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fabric_info(make_host("dgx-a100").handle(0))


def test_memory_reserved_as_on_the_real_h200(make_host):
    handle = make_host("h200-passthrough-vm").handle(0)
    v1 = pynvml.nvmlDeviceGetMemoryInfo(handle)
    v2 = pynvml.nvmlDeviceGetMemoryInfo(handle, pynvml.nvmlMemory_v2)
    assert (v1.total, v1.used, v1.free) == (H200_TOTAL_BYTES, H200_RESERVED_BYTES, H200_TOTAL_BYTES - H200_RESERVED_BYTES)
    assert (v2.reserved, v2.used, v2.free) == (H200_RESERVED_BYTES, 0, H200_TOTAL_BYTES - H200_RESERVED_BYTES)
    assert pynvml.nvmlDeviceGetPciInfo(handle).pciSubSystemId == 0x18BF10DE


def test_profile_enums_the_driver_does_not_know_are_invalid(make_host):
    handle = make_host("hgx-h200").handle(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, 0x10)
    for enum in (0x11, 0x12, 0x13):
        with pytest.raises(pynvml.NVMLError_InvalidArgument):
            pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, enum)

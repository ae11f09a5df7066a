"""Changes through Hardware (MIG mode, instances, reset, units) and how failures surface."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError
from ansible_collections.gpuops.mig.plugins.module_utils._model import Placement
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host


def test_create_and_destroy_round_trip_is_seen_by_a_later_session(make_host, open_hardware):
    path = make_host("dgx-h100")
    hardware = open_hardware(path)
    assert hardware.set_mig_mode(0, True) is None
    assert hardware.device(0).mig_current is True

    gpu_instance = hardware.create_gpu_instance(0, 9, Placement(4, 4))
    assert (gpu_instance.profile_id, gpu_instance.placement) == (9, Placement(4, 4))
    one_slice = hardware.create_compute_instance(0, gpu_instance.gi_id, 0)
    full = hardware.create_gpu_instance(0, 14, Placement(0, 2))
    full_ci = hardware.create_compute_instance(0, full.gi_id, 1)
    assert one_slice.mig_uuid.startswith("MIG-") and full_ci.mig_uuid.startswith("MIG-")
    assert hardware.remaining_capacity(0, 9) == 0
    assert hardware.mutating_calls == 5

    # A new session (as the next module run would open) sees the same machine.
    later = open_hardware(path)
    instances = later.gpu_instances(0)
    assert [(gi.gi_id, gi.profile_id, gi.placement) for gi in instances] == [
        (full.gi_id, 14, Placement(0, 2)),
        (gpu_instance.gi_id, 9, Placement(4, 4)),
    ]
    assert [ci.mig_uuid for ci in instances[1].compute_instances] == [one_slice.mig_uuid]
    devices = dict((device.uuid, device) for device in later.mig_devices(0))
    assert devices[one_slice.mig_uuid].profile_name == "1c.3g.40gb"
    assert devices[full_ci.mig_uuid].profile_name == "2g.20gb"
    assert devices[full_ci.mig_uuid].memory_mb == 20096
    assert sorted(device.mig_index for device in devices.values()) == [0, 1]
    assert later.mutating_calls == 0

    later.destroy_compute_instance(0, gpu_instance.gi_id, one_slice.ci_id)
    later.destroy_gpu_instance(0, gpu_instance.gi_id)
    assert [gi.gi_id for gi in later.gpu_instances(0)] == [full.gi_id]
    assert later.remaining_capacity(0, 9) == 1
    assert later.mutating_calls == 2


def test_mig_device_of_a_media_engine_instance_keeps_its_suffix(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-h100"))
    hardware.set_mig_mode(0, True)
    gpu_instance = hardware.create_gpu_instance(0, 20)
    hardware.create_compute_instance(0, gpu_instance.gi_id, 0)
    assert [device.profile_name for device in hardware.mig_devices(0)] == ["1g.10gb+me"]


def test_gpu_instances_are_empty_while_mig_is_disabled(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-b200"))
    assert hardware.gpu_instances(0) == []
    assert hardware.mig_devices(0) == []


def _error(call, *args):
    with pytest.raises(HardwareError) as caught:
        call(*args)
    return caught.value


def test_overlap_and_in_use_carry_nvml_error_names(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-h100"))
    hardware.set_mig_mode(2, True)
    gpu_instance = hardware.create_gpu_instance(2, 9, Placement(0, 4))
    hardware.create_compute_instance(2, gpu_instance.gi_id, 2)

    overlap = _error(hardware.create_gpu_instance, 2, 14, Placement(2, 2))
    assert (overlap.error, overlap.gpu) == ("NVML_ERROR_INSUFFICIENT_RESOURCES", 2)
    assert overlap.call == "nvmlDeviceCreateGpuInstanceWithPlacement"
    assert overlap.details() == {"call": overlap.call, "error": overlap.error, "gpu": 2}

    in_use = _error(hardware.destroy_gpu_instance, 2, gpu_instance.gi_id)
    assert in_use.error == "NVML_ERROR_IN_USE"
    assert "using the GPU or instance" in str(in_use)


def test_processes_are_reported_and_block_destruction(make_host, open_hardware):
    path = make_host("dgx-h100")
    hardware = open_hardware(path)
    hardware.set_mig_mode(0, True)
    gpu_instance = hardware.create_gpu_instance(0, 19)
    compute = hardware.create_compute_instance(0, gpu_instance.gi_id, 0)
    host.update_host(path, processes=[
        {"pid": 4242, "gpu": 0, "gi_id": gpu_instance.gi_id, "ci_id": compute.ci_id, "used_memory_mb": 512},
        {"pid": 77, "gpu": 1},
    ])
    [instance] = hardware.gpu_instances(0)
    assert instance.processes == (4242,)
    assert instance.compute_instances[0].processes == (4242,)
    assert [(p.pid, p.gi_id, p.ci_id, p.used_memory_mb) for p in hardware.processes(0)] == [
        (4242, gpu_instance.gi_id, compute.ci_id, 512)
    ]
    assert [(p.pid, p.gi_id, p.ci_id) for p in hardware.processes(1)] == [(77, None, None)]
    assert _error(hardware.destroy_compute_instance, 0, gpu_instance.gi_id, compute.ci_id).error == "NVML_ERROR_IN_USE"


def test_injected_fault_surfaces_with_its_call_and_gpu(make_host, open_hardware):
    path = make_host("dgx-h100", faults=[{"function": "nvmlDeviceCreateGpuInstance", "error": "NVML_ERROR_UNKNOWN", "gpu": 1}])
    hardware = open_hardware(path)
    hardware.set_mig_mode(1, True)
    error = _error(hardware.create_gpu_instance, 1, 19)
    assert (error.call, error.error, error.gpu) == ("nvmlDeviceCreateGpuInstance", "NVML_ERROR_UNKNOWN", 1)
    # The fault fired once; the retry works.
    assert hardware.create_gpu_instance(1, 19).profile_id == 19


def test_lost_gpu_gives_a_clear_message(make_host, open_hardware):
    path = make_host("dgx-a100", faults=[{"gpu": 3, "lost": True}])
    hardware = open_hardware(path)
    error = _error(hardware.devices)
    assert (error.error, error.gpu) == ("NVML_ERROR_GPU_IS_LOST", 3)
    assert "fallen off the bus" in str(error)
    # GPUs named by index can still be managed; the lost one cannot.
    assert [device.index for device in hardware.select([0, "1"])] == [0, 1]
    assert _error(hardware.select, [3]).error == "NVML_ERROR_GPU_IS_LOST"


def test_ampere_mig_mode_waits_for_a_reset_and_reset_fails_while_held(make_host, open_hardware):
    path = make_host("dgx-a100", processes=[{"pid": 99, "gpu": 1}])
    hardware = open_hardware(path)
    assert hardware.set_mig_mode(0, True) is None
    assert (hardware.device(0).mig_current, hardware.device(0).mig_pending) == (False, True)
    hardware.reset_gpu(0)
    assert hardware.device(0).mig_current is True
    assert hardware.mutating_calls == 2

    assert hardware.set_mig_mode(1, True) == "NVML_ERROR_IN_USE"
    error = _error(hardware.reset_gpu, 1)
    assert (error.error, error.gpu, error.call) == ("NVML_ERROR_IN_USE", 1, "nvidia-smi --gpu-reset")


def test_reset_is_not_supported_in_a_passthrough_vm(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-a100", reset_supported=False))
    assert hardware.set_mig_mode(0, True) == "NVML_ERROR_RESET_REQUIRED"
    assert _error(hardware.reset_gpu, 0).error == "NVML_ERROR_NOT_SUPPORTED"


def test_units_are_started_stopped_and_reported(make_host, open_hardware):
    path = make_host("dgx-h100", units={"nvidia-dcgm": {"active": True}})
    hardware = open_hardware(path)
    units = ["nvidia-k8s-device-plugin", "nvidia-dcgm"]
    assert hardware.host.active_units(units) == ["nvidia-dcgm"]
    hardware.host.start_units(["nvidia-k8s-device-plugin"])
    assert hardware.host.active_units(units) == units
    hardware.host.stop_units(units)
    assert hardware.host.active_units(units) == []
    assert host.unit_states(path)["nvidia-dcgm"] is False


def test_close_is_idempotent_and_context_manager_closes(make_host):
    path = make_host("a30-x4")
    with Hardware(simulator=path) as hardware:
        assert len(hardware.devices()) == 4
    hardware.close()

"""What the GPUs say about the machine they are in, read through Hardware, and the reset
policy and deployment mode the collection derives from it."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._capabilities import attempt_reset_by_default, deployment_mode
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib


@pytest.mark.parametrize("preset, mode, deployment", [
    ("dgx-h100", "none", "bare_metal"),
    ("h200-passthrough-vm", "passthrough", "passthrough_guest"),
    ("a100-passthrough-vm", "passthrough", "passthrough_guest"),
    ("hgx-h200-vgpu-host", "vgpu_host", "vgpu_host"),
])
def test_virtualization_mode_names_and_deployment(make_host, open_hardware, preset, mode, deployment):
    hardware = open_hardware(make_host(preset))
    modes = [hardware.virtualization_mode(device.index) for device in hardware.devices()]
    assert set(modes) == {mode}
    assert deployment_mode(modes) == deployment
    assert hardware.persistence_mode(0) is True


def test_default_reset_policy_follows_the_virtualization_mode():
    assert attempt_reset_by_default("none") is True
    assert attempt_reset_by_default("vgpu_host") is True
    assert attempt_reset_by_default(None) is True  # the GPU does not say: as on bare metal
    assert attempt_reset_by_default("passthrough") is False
    assert attempt_reset_by_default("vgpu_guest") is False


def test_deployment_mode_of_disagreeing_or_silent_gpus():
    assert deployment_mode(["none", "passthrough"]) == "mixed"
    assert deployment_mode([None, None]) is None
    assert deployment_mode([None, "passthrough"]) == "passthrough_guest"


def test_fabric_info_without_nvswitch_as_the_real_h200(make_host, open_hardware):
    hardware = open_hardware(make_host("h200-passthrough-vm"))
    assert hardware.fabric_info(0) == {"state": "not_supported", "status": "NVML_SUCCESS", "clique_id": None,
                                       "cluster_uuid": None, "health_summary": "not_supported", "health_mask": 0}


def test_fabric_info_follows_fabric_manager(make_host, open_hardware):
    path = make_host("hgx-h200")
    fm_lib.set_fabric_manager_running(path, False)
    assert open_hardware(path).fabric_info(0)["state"] == "not_started"
    fm_lib.set_fabric_manager_running(path, True)
    info = open_hardware(path).fabric_info(3)
    assert (info["state"], info["status"], info["health_summary"]) == ("completed", "NVML_SUCCESS", "healthy")
    assert info["clique_id"] is not None
    assert len(info["cluster_uuid"]) == 36 and info["cluster_uuid"] != "00000000-0000-0000-0000-000000000000"


def test_fabric_info_is_none_where_the_driver_has_no_probe(make_host, open_hardware):
    assert open_hardware(make_host("dgx-a100")).fabric_info(0) is None

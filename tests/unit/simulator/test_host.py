"""Simulated host lifecycle: presets, options, fabric section, units, paths."""

import json
import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host, presets
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import SimulatorStateError

from .reference_tables import FABRIC_PARTITIONS


def test_unknown_preset_lists_the_valid_ones(tmp_path):
    with pytest.raises(InputError) as raised:
        host.create_host(str(tmp_path / "h.json"), "dgx-a1000")
    assert raised.value.option == "preset"
    assert "dgx-a100" in str(raised.value) and "rtx-pro-6000-x4" in str(raised.value)
    assert not os.path.exists(str(tmp_path / "h.json"))


def test_create_refuses_to_overwrite_unless_asked(tmp_path):
    path = str(tmp_path / "h.json")
    host.create_host(path, "gh200")
    with pytest.raises(InputError):
        host.create_host(path, "gh200")
    host.create_host(path, "a30-x4", replace=True)
    assert host.describe_host(path)["preset"] == "a30-x4"


@pytest.mark.parametrize("preset", sorted(presets.PRESETS))
def test_every_preset_creates_a_consistent_host(tmp_path, preset):
    path = str(tmp_path / "sub" / "h.json")
    host.create_host(path, preset)
    summary = host.describe_host(path)
    spec = presets.PRESETS[preset]
    assert [gpu["pci_bus_id"] for gpu in summary["gpus"]] == spec["pci_bus_ids"]
    assert [gpu["module_id"] for gpu in summary["gpus"]] == spec["module_ids"]
    assert all(not gpu["mig_current"] and not gpu["gpu_instances"] for gpu in summary["gpus"])
    assert summary["fabric"]["nvswitch"] == (spec["fabric"] is not None)
    assert os.path.isdir(summary["root"]) and summary["dev_root"] == summary["root"]
    assert host.remove_host(path) is True
    assert not os.path.exists(path) and not os.path.exists(summary["root"])
    assert host.remove_host(path) is False


def test_dgx_a100_bus_ids_are_the_dgx_layout(tmp_path):
    state = host.create_host(str(tmp_path / "h.json"), "dgx-a100")
    assert [gpu["pci_bus_id"][9:11] for gpu in state["gpus"]] == ["07", "0F", "47", "4E", "87", "90", "B7", "BD"]


@pytest.mark.parametrize("preset", sorted(FABRIC_PARTITIONS))
def test_fabric_partitions_follow_the_fabric_manager_tables(tmp_path, preset):
    state = host.create_host(str(tmp_path / "h.json"), preset)
    fabric = state["fabric"]
    assert (fabric["nvswitch"], fabric["fm_running"], fabric["mode"], fabric["restart_pending"]) == (True, True, 0, False)
    assert [(p["id"], p["physical_ids"]) for p in fabric["partitions"]] == FABRIC_PARTITIONS[preset]
    multi_gpu_nvlinks = {"dgx-a100": 12, "dgx-h100": 18, "dgx-b200": 18}[preset]
    assert [p["nvlinks_per_gpu"] for p in fabric["partitions"]] == [
        0 if len(physical_ids) == 1 else multi_gpu_nvlinks for _id, physical_ids in FABRIC_PARTITIONS[preset]]
    assert not any(p["active"] for p in fabric["partitions"])


def test_fabric_mode_is_validated_and_set(tmp_path):
    path = str(tmp_path / "h.json")
    host.create_host(path, "dgx-h100", fabric_mode=1)
    assert host.describe_host(path)["fabric"]["mode"] == 1
    with pytest.raises(InputError) as raised:
        host.update_host(path, fabric_mode=3)
    assert "valid: 0, 1, 2" in str(raised.value)
    host.update_host(path, fabric_mode=2)
    assert host.describe_host(path)["fabric"]["mode"] == 2
    other = str(tmp_path / "pcie.json")
    host.create_host(other, "a30-x4")
    assert host.describe_host(other)["fabric"] == {"nvswitch": False, "mode": None, "fm_running": None,
                                                   "active_partitions": []}
    with pytest.raises(InputError):
        host.update_host(other, fabric_mode=1)


def test_units_default_inactive_and_can_be_started(tmp_path):
    path = str(tmp_path / "h.json")
    host.create_host(path, "dgx-h100")
    assert host.unit_states(path) == {"nvidia-dcgm": False, "nvidia-k8s-device-plugin": False}
    assert host.set_unit_state(path, "nvidia-dcgm", True) is False
    assert host.unit_states(path)["nvidia-dcgm"] is True
    with pytest.raises(InputError) as raised:
        host.set_unit_state(path, "nvidia-nope", True)
    assert "nvidia-dcgm" in str(raised.value)
    host.update_host(path, units={"dcgm-exporter": {"active": True, "gpus": [0, 1]}})
    assert host.unit_states(path)["dcgm-exporter"] is True


def test_update_rejects_unknown_options_and_preset_changes(tmp_path):
    path = str(tmp_path / "h.json")
    host.create_host(path, "gh200")
    with pytest.raises(InputError):
        host.update_host(path, preset="dgx-h100")
    with pytest.raises(InputError):
        host.update_host(path, colour="blue")
    with pytest.raises(InputError):
        host.update_host(path, reset_supported="no")
    host.update_host(path, reset_supported=False)
    assert host.describe_host(path)["reset_supported"] is False


def test_paths_of_a_missing_host_raise(tmp_path):
    with pytest.raises(SimulatorStateError):
        host.paths(str(tmp_path / "none.json"))
    with pytest.raises(SimulatorStateError):
        host.describe_host(str(tmp_path / "none.json"))


def test_unset_suboptions_passed_as_none_take_their_defaults(tmp_path):
    """Ansible hands unset suboptions over as None."""
    path = str(tmp_path / "h.json")
    host.create_host(path, "dgx-h100", processes=[
        {"pid": 5, "gpu": 1, "name": None, "gi_id": None, "ci_id": None, "used_memory_mb": None}],
        faults=[{"function": "nvmlDeviceSetMigMode", "error": "NVML_ERROR_UNKNOWN", "call": None, "gpu": None,
                 "persistent": None, "lost": None},
                {"function": None, "error": None, "call": None, "gpu": 2, "persistent": None, "lost": True}],
        units={"nvidia-dcgm": {"active": True, "gpus": None}})
    summary = host.describe_host(path)
    assert summary["processes"] == [{"pid": 5, "gpu": 1, "name": "python3", "gi_id": None, "ci_id": None,
                                     "used_memory_mb": 0}]
    assert summary["faults"] == [{"function": "nvmlDeviceSetMigMode", "remaining": 1, "error": "NVML_ERROR_UNKNOWN",
                                  "gpu": None, "persistent": False}]
    assert [gpu["lost"] for gpu in summary["gpus"]] == [False, False, True] + [False] * 5
    assert summary["units"]["nvidia-dcgm"] is True


def test_remove_host_deletes_its_sidecar_files_and_nothing_else(tmp_path):
    path = str(tmp_path / "node.json")
    host.create_host(path, "a30-x4")
    journal = tmp_path / "node.json.gpuops-mig-journal.json"
    journal.write_text("{}")
    neighbour = tmp_path / "node.json-notes.txt"
    neighbour.write_text("keep")
    other_host = tmp_path / "node2.json"
    host.create_host(str(other_host), "a30-x4")
    assert host.remove_host(path) is True
    assert sorted(entry.name for entry in tmp_path.iterdir() if entry.name.startswith("node.json")) == ["node.json-notes.txt"]
    assert other_host.exists()
    assert host.remove_host(path) is False


def test_changing_a_unit_keeps_the_fields_not_given(tmp_path):
    path = str(tmp_path / "node.json")
    host.create_host(path, "dgx-h100", units={"dcgm-exporter": {"active": False, "gpus": [2, 3]}})
    host.update_host(path, units={"dcgm-exporter": {"active": True}})
    assert host.unit_states(path)["dcgm-exporter"] is True
    assert _unit(path, "dcgm-exporter") == {"active": True, "gpus": [2, 3]}
    host.update_host(path, units={"dcgm-exporter": {"gpus": [1]}})
    assert _unit(path, "dcgm-exporter") == {"active": True, "gpus": [1]}


def _unit(path, name):
    with open(path) as handle:
        return json.load(handle)["units"][name]

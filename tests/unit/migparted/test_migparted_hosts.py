"""mig-parted configs against simulated hosts: what a config means for each GPU of a board
(all-enabled, every device id of NVIDIA's default file), and the messages and warnings a
user gets when a config does not suit the host."""

from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._migparted import ConfigError
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._reconcile import InstanceChange
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.boards import BOARDS
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import PRESETS

DEFAULT = str(Path(__file__).parent / "published" / "mig-parted--deployments_systemd_config-default.yaml")


@pytest.fixture
def desired(tmp_path):
    """desired(preset, config name, file=DEFAULT) -> DesiredState on a fresh simulated host."""

    def resolve(preset, name, path=DEFAULT):
        state = str(tmp_path / ("%s.json" % preset))
        simulated_host.create_host(state, preset)
        hardware = Hardware(simulator=state)
        try:
            return desired_state({"state": "present", "mig_parted_config": {"file": path, "name": name}},
                                 hardware, hardware.select())
        finally:
            hardware.close()

    return resolve


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_all_enabled_wants_mig_on_without_instances(desired):
    result = desired("dgx-h100", "all-enabled")
    assert [(gpu.mig_enabled, gpu.wanted, gpu.mig_required) for gpu in result.values()] == [(True, (), True)] * 8
    assert result.warnings == []


#: GB200 on an early driver names its profiles 1g.24gb ... 7g.189gb (reference 3.11); the
#: default file's all-balanced uses the production names.
EARLY_GB200 = "gb200-nvl4-early-driver"


@pytest.mark.parametrize("preset", sorted(set(PRESETS) - {EARLY_GB200}))
def test_all_balanced_selects_every_board_by_its_pci_device_id(desired, preset):
    """NVIDIA's all-balanced has one entry per board model; every preset's board is named."""
    result = desired(preset, "all-balanced")
    assert sorted(result) == list(range(len(PRESETS[preset]["pci_bus_ids"])))
    names = set(profile["name"] for profile in BOARDS[PRESETS[preset]["board"]]["gpu_instance_profiles"])
    for gpu in result.values():
        assert gpu.mig_enabled and gpu.wanted
        assert set(wanted.profile.name for wanted in gpu.wanted) <= names


def test_all_balanced_is_refused_on_an_early_gb200_driver_naming_the_profile(desired):
    with pytest.raises(ConfigError, match=r"all-balanced\[0\].mig-devices.1g.23gb: GPU 0 \(NVIDIA GB200, PCI device id "
                                          r"0x294110DE\): this GPU has no 1g profile with 23gb \(it has 1g.24gb"):
        desired(EARLY_GB200, "all-balanced")


def test_a_profile_the_board_lacks_names_file_config_entry_gpu_and_board(desired):
    with pytest.raises(ConfigError) as caught:
        desired("dgx-h100", "all-1g.5gb")
    message = str(caught.value)
    assert message.startswith(
        "mig-parted config %s: mig-configs.all-1g.5gb[0].mig-devices.1g.5gb: GPU 0 (NVIDIA H100 80GB HBM3, "
        "PCI device id 0x233010DE): " % DEFAULT
    )
    assert "1g.10gb" in message
    assert caught.value.details()["entry"] == 0


def test_a_layout_overrunning_the_memory_slots_is_blamed_on_them_first(desired, tmp_path):
    path = write(tmp_path, "version: v1\nmig-configs:\n  big:\n    - devices: all\n      mig-enabled: true\n"
                           "      mig-devices: {\"4g.40gb\": 1, \"3g.40gb\": 1, \"1g.10gb\": 1}\n")
    with pytest.raises(ConfigError) as caught:
        desired("dgx-h100", "big", path)
    message = str(caught.value)
    assert "mig-configs.big[0].mig-devices: GPU 0 (NVIDIA H100 80GB HBM3, PCI device id 0x233010DE): " in message
    problems = message.split("cannot exist on this GPU: ", 1)[1]
    assert problems.startswith("the layout needs 9 memory slots but the GPU has 8")


def test_more_instances_than_the_board_allows_are_refused_before_anything_changes(desired):
    deepops = str(Path(DEFAULT).parent / "deepops--config.example_nvidia-mig-config.yml")
    with pytest.raises(ConfigError, match=r"all-7g.80gb\[0\].mig-devices: GPU 0 .*needs 16 memory slots but the GPU "
                                          r"has 8; 2 x 7g.80gb wanted but the GPU allows at most 1"):
        desired("dgx-a100-80gb", "all-7g.80gb", deepops)


def test_a_config_selecting_no_gpu_of_the_host_warns_and_changes_nothing(desired):
    result = desired("dgx-h100", "all-1g.35gb")
    assert dict(result) == {}
    assert result.warnings == [
        "mig-parted config %s: mig-configs.all-1g.35gb selects no GPU of this host (device-filter: 0x233510DE, "
        "devices: all; device-filter: 0x31C210DE, devices: all; the host has 8 x 0x233010DE); nothing is changed, "
        "as with mig-parted" % DEFAULT
    ]


def test_device_indices_the_host_lacks_warn(desired, tmp_path):
    path = write(tmp_path, "version: v1\nmig-configs:\n  c:\n    - devices: [0, 8]\n      mig-enabled: true\n"
                           "      mig-devices: {\"7g.80gb\": 1}\n")
    result = desired("dgx-h100", "c", path)
    assert sorted(result) == [0]
    assert result.warnings == [
        "mig-parted config %s: mig-configs.c[0].devices names GPU index(es) 8, which this host does not have "
        "(it has GPUs 0-7); ignored, as mig-parted does" % path
    ]


def _apply(state, params, auto_enable_mig=True):
    hardware = Hardware(simulator=state)
    try:
        desired = desired_state(dict(params, state=params.get("state", "present")), hardware, hardware.select())
        return InstanceChange(hardware, desired, auto_enable_mig=auto_enable_mig).run()
    finally:
        hardware.close()


def _mig_modes(state):
    hardware = Hardware(simulator=state)
    try:
        return [(device.mig_current, len(hardware.gpu_instances(device.index)) if device.mig_current else 0)
                for device in hardware.devices()]
    finally:
        hardware.close()


def test_all_enabled_turns_mig_on_and_removes_instances_as_mig_parted_does(tmp_path):
    state = str(tmp_path / "h100.json")
    simulated_host.create_host(state, "dgx-h100")
    assert _apply(state, {"state": "absent"})["changed"] is False
    assert _mig_modes(state) == [(False, 0)] * 8  # no instances wanted: MIG mode left alone
    _apply(state, {"mig_parted_config": {"file": DEFAULT, "name": "all-balanced"}})
    assert _mig_modes(state) == [(True, 4)] * 8
    result = _apply(state, {"mig_parted_config": {"file": DEFAULT, "name": "all-enabled"}})
    assert result["changed"] is True
    assert _mig_modes(state) == [(True, 0)] * 8
    assert _apply(state, {"mig_parted_config": {"file": DEFAULT, "name": "all-enabled"}})["changed"] is False


def test_all_enabled_from_mig_disabled_turns_mig_on(tmp_path):
    state = str(tmp_path / "gb200.json")
    simulated_host.create_host(state, "gb200-nvl4")
    assert _apply(state, {"mig_parted_config": {"file": DEFAULT, "name": "all-enabled"}})["changed"] is True
    assert _mig_modes(state) == [(True, 0)] * 4


def test_all_enabled_on_ampere_needs_mig_mode_like_any_layout(tmp_path):
    state = str(tmp_path / "a100.json")
    simulated_host.create_host(state, "a100-pcie-x4")
    with pytest.raises(InputError, match="GPU 0: MIG mode is disabled and enabling it on ampere needs a GPU reset"):
        _apply(state, {"mig_parted_config": {"file": DEFAULT, "name": "all-enabled"}})
    assert _mig_modes(state) == [(False, 0)] * 4

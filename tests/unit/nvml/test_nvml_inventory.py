"""Hardware inventory and GPU selection against simulated hosts of several kinds.

Expected values come from the reference (PCI ids, architectures, board memory) and the
presets' published layouts, not from the code under test.
"""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError, InputError
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.host import manage_simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import PRESETS

# preset -> (PCI device id as mig-parted writes it, NVML architecture, board memory MiB or None)
BOARDS = {
    "dgx-a100": (0x20B010DE, 7, 40960),
    "a30-x4": (0x20B710DE, 7, None),
    "dgx-h100": (0x233010DE, 9, 81559),
    "dgx-b200": (0x290110DE, 10, 183359),
    "rtx-pro-6000-x4": (0x2BB510DE, 10, 97887),
}


@pytest.mark.parametrize("preset", sorted(BOARDS))
def test_devices_report_the_boards_identity(preset, make_host, open_hardware):
    pci_device_id, architecture, memory_mb = BOARDS[preset]
    hardware = open_hardware(make_host(preset))
    devices = hardware.devices()
    assert [device.index for device in devices] == list(range(len(PRESETS[preset]["pci_bus_ids"])))
    assert [device.pci_bus_id for device in devices] == PRESETS[preset]["pci_bus_ids"]
    assert [device.module_id for device in devices] == PRESETS[preset]["module_ids"]
    assert len(set(device.uuid for device in devices)) == len(devices)
    assert all(device.uuid.startswith("GPU-") for device in devices)
    assert len(set(device.minor for device in devices)) == len(devices)
    for device in devices:
        assert device.pci_device_id == pci_device_id
        assert device.architecture == architecture
        assert (device.mig_current, device.mig_pending) == (False, False)
        if memory_mb is not None:
            assert device.memory_mb == memory_mb
    assert hardware.backend == "simulator"
    assert hardware.driver_version() == PRESETS[preset]["driver_version"]


def test_paths_point_into_the_simulated_host(make_host, open_hardware):
    path = make_host("dgx-h100")
    hardware = open_hardware(path)
    assert hardware.dev_root.startswith(path)
    assert hardware.mig_minors_path.startswith(path)
    assert hardware.mig_minors_path.endswith("proc/driver/nvidia-caps/mig-minors")


@pytest.fixture
def h100(make_host, open_hardware):
    return open_hardware(make_host("dgx-h100"))


def _indices(devices):
    return [device.index for device in devices]


def test_select_defaults_to_every_gpu(h100):
    assert _indices(h100.select()) == list(range(8))


@pytest.mark.parametrize(
    "entries",
    [
        [2, "5"],
        ["00000000:3A:00.0", "ab:00.0"],
        ["0000:3a:00.0", "00000000:AB:00.0"],
    ],
)
def test_select_by_index_or_bus_id_in_any_form(h100, entries):
    assert _indices(h100.select(entries)) == [2, 5]


def test_select_by_uuid_ignores_case_and_duplicates(h100):
    uuid = h100.devices()[3].uuid
    assert _indices(h100.select([uuid.lower(), uuid.upper(), 3])) == [3]


def test_device_filter_combines_with_gpus(h100, make_host, open_hardware):
    assert _indices(h100.select(device_filter=["0x233010de"])) == list(range(8))
    assert _indices(h100.select([1, 2], device_filter=["0x233010DE"])) == [1, 2]
    # A filter naming a board this host does not have selects nothing (fleet-wide filters).
    assert h100.select(device_filter=["0x20B010DE"]) == []


@pytest.mark.parametrize("entry", [8, "GPU-00000000-0000-0000-0000-000000000000", "00000000:99:00.0", "first"])
def test_select_names_the_gpus_that_exist_for_an_unknown_entry(h100, entry):
    with pytest.raises(InputError) as caught:
        h100.select([0, entry])
    error = caught.value
    assert error.option == "gpus"
    assert str(entry) in str(error)
    assert len(error.valid) == 8
    assert "00000000:18:00.0" in str(error) and h100.devices()[0].uuid in str(error)


@pytest.mark.parametrize("entry", ["233010DE", "0x2330", "0xZZ3010DE"])
def test_select_rejects_a_malformed_device_filter(h100, entry):
    with pytest.raises(InputError) as caught:
        h100.select(device_filter=[entry])
    assert caught.value.option == "device_filter"
    assert "0x233010DE" in str(caught.value)


def _host_with_lost_gpu(make_host, lost=5):
    """(path, {index: (uuid, bus id)} read before GPU ``lost`` fell off the bus)."""
    path = make_host("dgx-h100")
    with Hardware(simulator=path) as hardware:
        names = dict((device.index, (device.uuid, device.pci_bus_id)) for device in hardware.devices())
    host.update_host(path, faults=[{"gpu": lost, "lost": True}])
    return path, names


@pytest.mark.parametrize("field", [0, 1], ids=["uuid", "bus-id"])
def test_select_by_uuid_or_bus_id_works_beside_a_lost_gpu(make_host, open_hardware, field):
    path, names = _host_with_lost_gpu(make_host)
    hardware = open_hardware(path)
    assert _indices(hardware.select([names[2][field]])) == [2]
    assert _indices(hardware.healthy_devices()) == [0, 1, 2, 3, 4, 6, 7]


@pytest.mark.parametrize("field", [0, 1], ids=["uuid", "bus-id"])
def test_selecting_the_lost_gpu_by_uuid_or_bus_id_fails_with_its_error(make_host, open_hardware, field):
    path, names = _host_with_lost_gpu(make_host)
    with pytest.raises(HardwareError) as caught:
        open_hardware(path).select([names[5][field]])
    assert caught.value.error == "NVML_ERROR_GPU_IS_LOST" and caught.value.gpu == 5


def test_a_simulator_file_that_is_not_a_simulated_host_is_an_input_error(tmp_path, make_host, open_hardware):
    other = tmp_path / "inventory.json"
    other.write_text('{"hosts": []}\n')
    with pytest.raises(InputError) as caught:
        Hardware(simulator=str(other))
    assert caught.value.option == "simulator" and "not a gpuops.mig simulated host" in str(caught.value)
    assert other.read_text() == '{"hosts": []}\n'
    # Nothing was left installed: a real simulated host opens right after.
    assert open_hardware(make_host("gh200")).device_count() == 1


def test_a_failing_nvml_shutdown_is_returned_not_raised(make_host, open_hardware):
    path = make_host("gh200")
    host.update_host(path, faults=[{"function": "nvmlShutdown", "error": "NVML_ERROR_DRIVER_NOT_LOADED"}])
    hardware = Hardware(simulator=path)
    error = hardware.close()
    assert error.call == "nvmlShutdown" and error.error == "NVML_ERROR_DRIVER_NOT_LOADED"
    assert hardware.close() is None
    assert open_hardware(path).device_count() == 1


def test_simulated_host_administration_refuses_a_file_that_is_not_a_host(tmp_path):
    other = tmp_path / "inventory.json"
    other.write_text('{"hosts": ["a"]}\n')
    for arguments in ({"state": "absent"}, {"preset": "gh200"}, {"reset_supported": False}):
        with pytest.raises(InputError) as caught:
            manage_simulated_host(str(other), **arguments)
        assert caught.value.option == "path" and "simulated host" in str(caught.value)
    assert other.read_text() == '{"hosts": ["a"]}\n'

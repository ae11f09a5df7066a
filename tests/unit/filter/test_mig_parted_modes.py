"""The mig_parted_modes filter reads mig-parted configs with the collection's own loader."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpuops.mig.plugins.filter.mig_parted_modes import mig_parted_modes

GPUS = [
    {"index": 0, "pci_device_id": "0x20B010DE"},
    {"index": 1, "pci_device_id": "0x20B010DE"},
    {"index": 2, "pci_device_id": "0x233010DE"},
]

CONFIG = {
    "version": "v1",
    "mig-configs": {
        "mixed": [
            {"device-filter": ["0x20B010DE"], "devices": "all", "mig-enabled": True, "mig-devices": {"1g.5gb": 7}},
            {"device-filter": "0x233010de", "devices": [2], "mig-enabled": False},
        ],
        "first-two": [{"devices": [0, 1], "mig-enabled": True, "mig-devices": {"3g.20gb": 2}}],
    },
}


def test_modes_follow_devices_and_device_filter():
    assert mig_parted_modes(CONFIG, "mixed", GPUS) == {0: True, 1: True, 2: False}
    assert mig_parted_modes(CONFIG, "first-two", GPUS) == {0: True, 1: True}


def test_a_gpu_selected_twice_is_an_error_as_in_mig_instance():
    twice = {"version": "v1", "mig-configs": {"c": [{"devices": "all", "mig-enabled": True, "mig-devices": {}}, {"devices": [1], "mig-enabled": False}]}}
    with pytest.raises(AnsibleFilterError, match="GPU 1"):
        mig_parted_modes(twice, "c", GPUS)


@pytest.mark.parametrize("name, gpus", [("missing", GPUS), ("mixed", [{"index": 0}])])
def test_bad_input_is_a_clear_filter_error(name, gpus):
    with pytest.raises(AnsibleFilterError, match="mig_parted_modes"):
        mig_parted_modes(CONFIG, name, gpus)

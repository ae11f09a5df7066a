"""Which partition `gpus` names, overlap, the exclusive plan, MIG refusal, VFs, config."""

import pytest
from fabric_recordings import H100_MODULE_IDS, dgx_a100, dgx_h100

from ansible_collections.gpuops.mig.plugins.module_utils import _fabric, _model
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError


def by_id(partitions, partition_id):
    return _fabric.find_partition(partitions, partition_id)


def test_hopper_partitions_map_to_gpus_by_module_id(h100_partitions):
    devices = dgx_h100()
    pairs = _fabric.mapped_gpus(by_id(h100_partitions, 3), devices)  # physical ids 1, 3
    assert [device.index for _gpu, device in pairs] == [H100_MODULE_IDS.index(1), H100_MODULE_IDS.index(3)]
    described = _fabric.describe_partition(by_id(h100_partitions, 3), devices)
    assert described["physical_ids"] == [1, 3]
    assert [gpu["uuid"] for gpu in described["gpus"]] == ["GPU-h100-2", "GPU-h100-3"]
    assert described["nvlinks"] == 36 and described["active"] is True


def test_ampere_partitions_map_by_uuid_not_module_id(a100_partitions):
    devices = dgx_a100()  # module ids deliberately reversed
    pairs = _fabric.mapped_gpus(by_id(a100_partitions, 11), devices)
    assert [device.index for _gpu, device in pairs] == [0, 1]


def test_gpus_select_the_partition_with_exactly_those_gpus(h100_partitions):
    devices = dgx_h100()
    # GPUs with module ids 2 and 4 form partition 4 on Hopper ({2,4}), not {1,2}.
    selected = [d for d in devices if d.module_id in (2, 4)]
    assert _fabric.partition_for_gpus(h100_partitions, devices, selected).partition_id == 4
    assert _fabric.partition_for_gpus(h100_partitions, devices, devices).partition_id == 0
    with pytest.raises(InputError) as failure:
        _fabric.partition_for_gpus(h100_partitions, devices, [d for d in devices if d.module_id in (1, 2)])
    assert failure.value.option == "gpus"
    assert "no Fabric Manager partition connects exactly these GPUs" in str(failure.value)
    assert "3 (GPUs 2, 3)" in failure.value.valid


def test_unknown_partition_id_lists_the_valid_ones(h100_partitions):
    with pytest.raises(InputError) as failure:
        _fabric.find_partition(h100_partitions, 15)
    assert failure.value.option == "partition_id" and failure.value.valid == list(range(15))


def test_activating_an_active_partition_is_no_change(h100_partitions):
    assert _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 3), "activated") == []
    assert _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 4), "deactivated") == []
    assert _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 3), "deactivated") == [
        {"action": "deactivate", "partition_id": 3}
    ]


def test_overlap_with_an_active_partition_names_it(h100_partitions):
    devices = dgx_h100()
    with pytest.raises(_fabric.FabricPartitionError) as failure:
        _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 1), "activated", devices=devices)
    # partition 1 = physical 1-4 overlaps active partition 3 = {1,3}; 5 = {5,7} does not.
    assert failure.value.blocking == [3]
    assert "overlaps active partition 3 (GPUs 2, 3)" in str(failure.value)
    assert "exclusive: true" in str(failure.value)


def test_exclusive_deactivates_every_overlapping_partition_first(h100_partitions):
    plan = _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 0), "activated", exclusive=True)
    assert plan == [
        {"action": "deactivate", "partition_id": 3},
        {"action": "deactivate", "partition_id": 5},
        {"action": "activate", "partition_id": 0},
    ]
    # A disjoint partition needs no deactivation even with exclusive.
    assert _fabric.plan_partition(h100_partitions, by_id(h100_partitions, 4), "activated", exclusive=True) == [
        {"action": "activate", "partition_id": 4}
    ]


def test_mig_refusal_follows_the_architecture(a100_partitions, h100_partitions):
    a100 = dgx_a100(mig_on=(1,))
    assert [d.index for d in _fabric.mig_blockers(by_id(a100_partitions, 11), a100)] == [1]
    # 1-GPU partitions are fine with MIG; other pairs too.
    assert _fabric.mig_blockers(by_id(a100_partitions, 20), a100) == []
    assert _fabric.mig_blockers(by_id(a100_partitions, 12), a100) == []
    h100 = dgx_h100(mig_on=(2, 3))
    assert _fabric.mig_blockers(by_id(h100_partitions, 3), h100) == []
    # ... unless the MigInFabricPartitions feature gate is off.
    assert len(_fabric.mig_blockers(by_id(h100_partitions, 3), h100, mig_in_partitions=False)) == 2


def test_pending_mig_enable_counts_as_enabled_on_ampere(a100_partitions):
    devices = dgx_a100()
    devices[0] = devices[0]._replace(mig_pending=True)
    assert [d.index for d in _fabric.mig_blockers(by_id(a100_partitions, 11), devices)] == [0]


def test_vfs_are_parsed_in_order_and_bad_ones_are_named():
    assert _fabric.parse_vfs(["0000:B3:00.4", "bd:00.4"]) == ((0, 0xB3, 0, 4), (0, 0xBD, 0, 4))
    assert _model.format_pci((0, 0xB3, 0, 4)) == "0000:b3:00.4"
    with pytest.raises(InputError) as bad:
        _fabric.parse_vfs(["b3:00"])
    assert bad.value.option == "vfs" and bad.value.value == "b3:00"
    with pytest.raises(InputError) as twice:
        _fabric.parse_vfs(["b3:00.4", "0000:b3:00.4"])
    assert "twice" in str(twice.value)


def test_fabricmanager_cfg_is_read_like_the_shipped_file():
    config = _fabric.parse_fabricmanager_cfg(
        "LOG_LEVEL=4\n# FABRIC_MODE=1 in a comment\nFABRIC_MODE=2 \nFABRIC_MODE_RESTART=1\nFM_CMD_UNIX_SOCKET_PATH=\n"
    )
    assert config == _fabric.FabricConfig(mode=2, restart=True, unix_socket=None, address=None)
    assert _fabric.parse_fabricmanager_cfg("").mode is None


def test_backend_choice_and_address_conflicts_fail_before_anything_runs():
    with pytest.raises(InputError) as backend:
        _fabric.FabricManager.open(backend="nvfm")
    assert backend.value.valid == ["auto", "libnvfm", "fmpm"]
    with pytest.raises(InputError) as both:
        _fabric.FabricManager.open(address="127.0.0.1", unix_socket="/run/fm.sock")
    assert both.value.option == "fm_unix_socket"


def test_without_libnvfm_or_fmpm_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(_fabric, "LIBNVFM_NAMES", ("libnvfm-does-not-exist.so.1",))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(Exception) as failure:
        _fabric.FabricManager.open(backend="auto", config_path="/nonexistent/fabricmanager.cfg")
    assert "neither libnvfm" in str(failure.value) and "fmpm" in str(failure.value)

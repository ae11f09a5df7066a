"""ensure_partition (the module's one call) and fabric_inventory (gpu_info's fabric
section) on simulated hosts, without Ansible around them."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _fabric
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError, InputError
from ansible_collections.gpuops.mig.plugins.module_utils._feature_gates import resolve
from ansible_collections.gpuops.mig.plugins.module_utils._module import Session
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib, host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import read_state

DEFAULTS = dict(
    partition_id=None,
    gpus=None,
    device_filter=None,
    state="activated",
    activated_partitions=None,
    vfs=None,
    exclusive=False,
    fm_address=None,
    fm_unix_socket=None,
    fm_backend="auto",
)


@pytest.fixture
def h100(tmp_path):
    path = str(tmp_path / "dgx-h100.json")
    host.create_host(path, "dgx-h100", fabric_mode=1)
    return path


def request(path, check_mode=False, gates=None, **params):
    options = dict(DEFAULTS, simulator=path, **params)
    with Hardware(simulator=path) as hardware:
        selected = hardware.select(options["gpus"], options["device_filter"])
        session = Session(options, check_mode, True, resolve(gates), hardware, selected)
        return _fabric.ensure_partition(session)


def test_mig_in_fabric_partitions_gate_off_refuses_hopper_mig_gpus(h100):
    with Hardware(simulator=h100) as hardware:
        hardware.set_mig_mode(2, True)
    with pytest.raises(_fabric.FabricPartitionError) as refused:
        request(h100, gates={"MigInFabricPartitions": False}, partition_id=3)  # GPUs 0, 2
    assert refused.value.gpus == [2] and "MigInFabricPartitions is off" in str(refused.value)
    assert request(h100, partition_id=3)["changed"] is True  # allowed with the default gate


def test_check_mode_reports_the_plan_and_calls_no_mutating_function(h100):
    request(h100, partition_id=5)
    planned = request(h100, check_mode=True, partition_id=2, exclusive=True)
    assert planned["actions"] == [{"action": "deactivate", "partition_id": 5}, {"action": "activate", "partition_id": 2}]
    assert planned["diff"] == {"before": {"active_partitions": [5]}, "after": {"active_partitions": [2]}}
    assert read_state(h100)["mutating_calls"] == {"fmActivateFabricPartition": 1}


def test_option_combinations_the_spec_cannot_express(h100):
    with pytest.raises(InputError) as vfs:
        request(h100, state="deactivated", partition_id=3, vfs=["18:00.4"])
    assert vfs.value.option == "vfs"
    with pytest.raises(InputError) as listed:
        request(h100, state="activated", activated_partitions=[3], partition_id=3)
    assert listed.value.option == "activated_partitions"
    with pytest.raises(InputError) as gpus:
        request(h100, state="restored", activated_partitions=[3], gpus=["0"])
    assert gpus.value.option == "gpus"


def test_a_failure_in_the_middle_of_a_plan_names_what_was_done(h100):
    class FailingActivation(object):
        def __init__(self, fm):
            self.fm = fm

        def deactivate(self, partition_id):
            self.fm.deactivate(partition_id)

        def activate(self, partition_id, vfs=None):
            raise _fabric.fm_error("fmActivateFabricPartition", "FM_ST_NVLINK_ERROR")

    request(h100, partition_id=3)
    with _fabric.FabricManager.open(simulator=h100) as fm:
        plan = _fabric.plan_partition(fm.partitions(), _fabric.find_partition(fm.partitions(), 1), "activated", True)
        with pytest.raises(_fabric.FabricPartitionError) as failure:
            _fabric.run_partition_plan(FailingActivation(fm), plan, None)
    assert failure.value.completed == [{"action": "deactivate", "partition_id": 3}]
    assert "FM_ST_NVLINK_ERROR" in str(failure.value) and "after deactivate 3" in str(failure.value)
    # The fabric did change: the module result says so, and says partition 3 stays down.
    assert failure.value.details()["changed"] is True
    assert "partition 3 was deactivated and is left so" in str(failure.value)
    with _fabric.FabricManager.open(simulator=h100) as fm:
        assert _fabric.active_ids(fm.partitions()) == []


@pytest.mark.parametrize("address", ["fm-host", "10.0.0.7", "10.0.0.7:6666", "fm-1.example.com:1"])
def test_well_formed_fm_addresses_are_accepted(h100, address):
    assert request(h100, state="listed", fm_address=address)["partitions"]


@pytest.mark.parametrize(
    "params, option",
    [
        ({"fm_address": "fm-host:notaport"}, "fm_address"),
        ({"fm_address": "fm-host:0"}, "fm_address"),
        ({"fm_address": "fm-host:65536"}, "fm_address"),
        ({"fm_address": "fm host"}, "fm_address"),
        ({"fm_address": ""}, "fm_address"),
        ({"fm_address": "http://fm-host:6666"}, "fm_address"),
        ({"fm_unix_socket": "fm.sock"}, "fm_unix_socket"),
        ({"fm_address": "fm-host", "fm_unix_socket": "/run/fm.sock"}, "fm_unix_socket"),
    ],
)
def test_malformed_fm_addresses_are_refused_with_the_simulator_too(h100, params, option):
    with pytest.raises(InputError) as refused:
        request(h100, state="activated", partition_id=3, **params)
    assert refused.value.option == option
    with _fabric.FabricManager.open(simulator=h100) as fm:
        assert _fabric.active_ids(fm.partitions()) == []


def test_restore_in_check_mode_leaves_fabric_manager_waiting(h100):
    request(h100, partition_id=4)
    fm_lib.restart_fabric_manager(h100)
    planned = request(h100, check_mode=True, state="restored", activated_partitions=[4])
    assert planned["changed"] and planned["actions"] == [{"action": "set_activated", "partition_ids": [4]}]
    assert read_state(h100)["fabric"]["restart_pending"] is True
    with pytest.raises(HardwareError) as waiting:
        request(h100, partition_id=4)
    assert waiting.value.error == "FM_ST_NOT_CONFIGURED" and "state=restored" in str(waiting.value)


def test_fabric_inventory_never_fails(h100, tmp_path):
    request(h100, partition_id=6)
    with Hardware(simulator=h100) as hardware:
        devices = hardware.devices()
    summary = _fabric.fabric_inventory(devices, simulator=h100)
    assert summary["available"] and summary["mode"] == "shared_nvswitch"
    six = [p for p in summary["partitions"] if p["id"] == 6][0]
    assert six["active"] and [gpu["index"] for gpu in six["gpus"]] == [5, 7]
    fm_lib.restart_fabric_manager(h100)
    assert _fabric.fabric_inventory(devices, simulator=h100)["restart_pending"] is True
    fm_lib.set_fabric_manager_running(h100, False)
    stopped = _fabric.fabric_inventory(devices, simulator=h100)
    assert stopped["available"] is False and "FM_ST_CONNECTION_NOT_VALID" in stopped["reason"]
    bare = str(tmp_path / "bare.json")
    host.create_host(bare, "dgx-b200")  # bare-metal mode by default
    assert _fabric.fabric_inventory(devices, simulator=bare) == {
        "available": True,
        "fm_backend": "simulator",
        "mode": "bare_metal",
        "partitions": [],
    }

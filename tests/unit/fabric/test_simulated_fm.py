"""The simulated Fabric Manager, driven through the production backends (libnvfm binding
and fmpm parsing) exactly as a real host would be."""

import ctypes
import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _fabric, _libnvfm
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib, host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import read_state


@pytest.fixture
def make_host(tmp_path):
    def make(preset, fabric_mode=1):
        path = str(tmp_path / ("%s-%s.json" % (preset, fabric_mode)))
        host.create_host(path, preset, fabric_mode=fabric_mode)
        return path

    return make


def open_fm(path, backend="auto"):
    return _fabric.FabricManager.open(simulator=path, backend=backend)


def fm_error(call):
    with pytest.raises(HardwareError) as failure:
        call()
    return failure.value.error


def enable_mig(path, index):
    with Hardware(simulator=path) as hardware:
        hardware.set_mig_mode(index, True)
    host.reset_gpu(path, index)  # Ampere applies the mode at reset; harmless on Hopper


@pytest.mark.parametrize(
    "preset, ids, pair",
    [
        # reference A2: single-baseboard A100 ids; Hopper pairs {1,3}; B200 ids from 1, adjacent pairs
        ("dgx-a100", [1, 7, 8, 11, 12, 13, 14] + list(range(19, 27)), (11, [1, 2])),
        ("dgx-h100", list(range(15)), (3, [1, 3])),
        ("hgx-h200", list(range(15)), (6, [6, 8])),
        ("dgx-b200", list(range(1, 16)), (4, [1, 2])),
    ],
)
def test_lists_the_default_partition_tables(make_host, preset, ids, pair):
    path = make_host(preset)
    for backend in ("libnvfm", "fmpm"):
        with open_fm(path, backend) as fm:
            partitions = fm.partitions()
        assert [p.partition_id for p in partitions] == ids
        by_id = dict((p.partition_id, p) for p in partitions)
        assert [gpu.physical_id for gpu in by_id[pair[0]].gpus] == pair[1]
        assert not any(p.active for p in partitions)


def test_ampere_reports_uuid_and_bus_id_hopper_does_not(make_host):
    a100, h100 = make_host("dgx-a100"), make_host("dgx-h100")
    gpus = read_state(a100)["gpus"]
    with open_fm(a100) as fm:
        first = fm.partitions()[0].gpus[0]
    assert (first.uuid, first.pci_bus_id) == (gpus[0]["uuid"], gpus[0]["pci_bus_id"])
    with open_fm(h100) as fm:
        assert all(gpu.uuid == "" and gpu.pci_bus_id == "" for p in fm.partitions() for gpu in p.gpus)


def test_partition_life_cycle_errors_follow_the_fm_user_guide(make_host):
    path = make_host("dgx-h100")
    with open_fm(path) as fm:
        fm.activate(3)
        assert fm_error(lambda: fm.activate(3)) == "FM_ST_IN_USE"  # already active
        assert fm_error(lambda: fm.activate(1)) == "FM_ST_IN_USE"  # GPUs 1-4 overlap {1,3}
        assert fm_error(lambda: fm.deactivate(4)) == "FM_ST_UNINITIALIZED"  # not active
        assert fm_error(lambda: fm.activate(40)) == "FM_ST_BADPARAM"
        fm.activate(4)  # {2,4} is disjoint from {1,3}
    # A second connection (a later module run) sees the activations.
    with open_fm(path) as fm:
        assert _fabric.active_ids(fm.partitions()) == [3, 4]
        fm.deactivate(3)
        assert _fabric.active_ids(fm.partitions()) == [4]
    counts = read_state(path)["mutating_calls"]
    assert counts["fmActivateFabricPartition"] == 5 and counts["fmDeactivateFabricPartition"] == 2


def test_listing_does_not_write_the_state_file(make_host):
    path = make_host("dgx-h100")
    before = os.stat(path).st_mtime_ns
    with open_fm(path) as fm:
        fm.partitions()
    assert os.stat(path).st_mtime_ns == before


def test_bare_metal_mode_has_no_partitions(make_host):
    path = make_host("dgx-h100", fabric_mode=0)
    with open_fm(path) as fm:
        assert fm.mode() == _libnvfm.BARE_METAL
        assert fm_error(fm.partitions) == "FM_ST_NOT_SUPPORTED"
        assert fm_error(lambda: fm.activate(3)) == "FM_ST_NOT_SUPPORTED"


def test_vgpu_mode_activates_with_one_vf_per_gpu(make_host):
    path = make_host("hgx-h200", fabric_mode=2)
    vfs = _fabric.parse_vfs(["0000:18:00.4", "0000:3a:00.4"])
    with open_fm(path) as fm:
        assert fm.mode() == _libnvfm.VGPU
        assert fm_error(lambda: fm.activate(3)) == "FM_ST_NOT_SUPPORTED"  # needs the VF call
        assert fm_error(lambda: fm.activate(3, vfs[:1])) == "FM_ST_BADPARAM"
        fm.activate(3, vfs)
    assert read_state(path)["fabric"]["partitions"][3]["vfs"] == ["0000:18:00.4", "0000:3a:00.4"]
    shared = make_host("hgx-h200", fabric_mode=1)
    with open_fm(shared) as fm:
        assert fm_error(lambda: fm.activate(3, vfs)) == "FM_ST_NOT_SUPPORTED"


def test_ampere_refuses_multi_gpu_partitions_with_mig_hopper_does_not(make_host):
    a100, h100 = make_host("dgx-a100"), make_host("dgx-h100")
    enable_mig(a100, 0)  # physical id 1
    enable_mig(h100, 0)
    with open_fm(a100) as fm:
        assert fm_error(lambda: fm.activate(11)) == fm_lib.MIG_IN_MULTI_GPU_PARTITION_ERROR
        fm.activate(19)  # the 1-GPU partition of physical id 1
        fm.activate(12)  # {3,4}: no MIG there
    with open_fm(h100) as fm:
        fm.activate(3)


def test_resiliency_restart_waits_for_the_activated_list(make_host):
    path = make_host("dgx-h100")
    with open_fm(path) as fm:
        fm.activate(3)
        fm.activate(5)
    fm_lib.restart_fabric_manager(path, resiliency=True)
    with open_fm(path) as fm:
        assert fm.config.restart is True
        assert fm_error(fm.partitions) == fm_lib.RESTART_PENDING_ERROR
        assert fm_error(lambda: fm.activate(4)) == fm_lib.RESTART_PENDING_ERROR
        assert fm_error(lambda: fm.set_activated([3, 1])) == "FM_ST_IN_USE"  # 1 overlaps 3
        fm.set_activated([3])
        assert _fabric.active_ids(fm.partitions()) == [3]
        assert fm_error(lambda: fm.set_activated([3])) == fm_lib.SET_ACTIVATED_WITHOUT_RESTART_ERROR
    fm_lib.restart_fabric_manager(path, resiliency=False)
    with open_fm(path) as fm:
        assert _fabric.active_ids(fm.partitions()) == []


def test_set_activated_through_fmpm(make_host):
    path = make_host("dgx-b200")
    with open_fm(path, "fmpm") as fm:
        fm.activate(4)
    fm_lib.restart_fabric_manager(path)
    with open_fm(path, "fmpm") as fm:
        assert fm_error(fm.partitions) == fm_lib.RESTART_PENDING_ERROR
        fm.set_activated([4, 6])
        assert _fabric.active_ids(fm.partitions()) == [4, 6]


def test_stopped_fabric_manager_and_hosts_without_nvswitch_refuse_connections(make_host, tmp_path):
    path = make_host("dgx-h100")
    fm_lib.set_fabric_manager_running(path, False)
    for backend in ("libnvfm", "fmpm"):
        with open_fm(path, backend) as fm:
            with pytest.raises(HardwareError) as failure:
                fm.partitions()
            assert (failure.value.call, failure.value.error) == ("fmConnect", "FM_ST_CONNECTION_NOT_VALID")
    plain = str(tmp_path / "a30.json")
    host.create_host(plain, "a30-x4")
    with open_fm(plain) as fm:
        assert fm.mode() is None
        assert fm_error(fm.partitions) == "FM_ST_CONNECTION_NOT_VALID"


def test_wrong_struct_version_is_a_version_mismatch(make_host):
    library = fm_lib.SimulatedFmLibrary(make_host("dgx-h100"))
    library.fmLibInit()
    handle = _libnvfm.fmHandle_t()
    params = _libnvfm.connect_params()
    params.version = 1234
    assert library.fmConnect(ctypes.byref(params), ctypes.byref(handle)) == _libnvfm.FM_ST["FM_ST_VERSION_MISMATCH"]
    assert library.fmConnect(ctypes.byref(_libnvfm.connect_params(version=1)), ctypes.byref(handle)) == 0
    listing = _libnvfm.fmFabricPartitionList_v2()
    listing.version = _libnvfm.fmFabricPartitionList_version + 1
    assert library.fmGetSupportedFabricPartitions(handle, ctypes.byref(listing)) == _libnvfm.FM_ST["FM_ST_VERSION_MISMATCH"]
    assert library.fmDisconnect(handle) == 0
    assert library.fmDisconnect(handle) == _libnvfm.FM_ST["FM_ST_BADPARAM"]

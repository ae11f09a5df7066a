"""The ctypes binding of libnvfm against recorded library responses."""

import ctypes

import pytest
from fabric_recordings import GPU_INFO, LIST_SIZE, PARTITION_SIZE, RecordedLibnvfm

from ansible_collections.gpuops.mig.plugins.module_utils import _fabric, _libnvfm
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError


def test_struct_sizes_and_versions_match_the_reference():
    # reference/fabric-manager-and-cdi.md A3: GpuInfo 128 B, PartitionInfo 2060 B,
    # PartitionList 131852 B, fmFabricPartitionList_version 16909068.
    assert ctypes.sizeof(_libnvfm.fmFabricPartitionGpuInfo_t) == 128 == GPU_INFO.size
    assert ctypes.sizeof(_libnvfm.fmFabricPartitionInfo_t) == 2060 == PARTITION_SIZE
    assert ctypes.sizeof(_libnvfm.fmFabricPartitionList_v2) == 131852 == LIST_SIZE
    assert _libnvfm.fmFabricPartitionList_version == 16909068
    assert _libnvfm.fmActivatedFabricPartitionList_version == (4 + 4 + 64 * 4) | 1 << 24
    assert _libnvfm.fmConnectParams_version1 == 268 | 1 << 24
    assert _libnvfm.fmConnectParams_version2 == 272 | 2 << 24


def test_lists_partitions_as_the_library_fills_them():
    library = RecordedLibnvfm("libnvfm_list_dgx_h100.json")
    backend = _fabric.LibnvfmBackend(library, address="10.0.0.5:6666")
    partitions = backend.partitions()
    backend.close()
    assert library.pending == []
    assert [p.partition_id for p in partitions] == list(range(15))
    by_id = dict((p.partition_id, p) for p in partitions)
    # Hopper pairs are {1,3},{2,4},{5,7},{6,8}; 3 and 5 are active in the recording.
    assert [gpu.physical_id for gpu in by_id[3].gpus] == [1, 3]
    assert [gpu.physical_id for gpu in by_id[6].gpus] == [6, 8]
    assert [p.partition_id for p in partitions if p.active] == [3, 5]
    assert by_id[0].gpus[0].nvlinks_available == 18 and by_id[0].gpus[0].uuid == ""
    assert [gpu.physical_id for gpu in by_id[14].gpus] == [8] and by_id[14].gpus[0].max_nvlinks == 0


def test_old_library_gets_v1_connect_params_and_errors_are_named():
    library = RecordedLibnvfm("libnvfm_old_library_errors.json")
    backend = _fabric.LibnvfmBackend(library, unix_socket="/run/nvidia-fabricmanager/fm.sock")
    with pytest.raises(HardwareError) as in_use:
        backend.activate(3)
    assert (in_use.value.call, in_use.value.error) == ("fmActivateFabricPartition", "FM_ST_IN_USE")
    assert "shares GPUs with an active partition" in str(in_use.value)
    with pytest.raises(HardwareError) as inactive:
        backend.deactivate(4)
    assert inactive.value.error == "FM_ST_UNINITIALIZED"
    backend.close()
    assert library.pending == []


def test_activation_with_vfs_keeps_their_order_and_restores_the_activated_list():
    library = RecordedLibnvfm("libnvfm_vgpu.json")
    backend = _fabric.LibnvfmBackend(library)
    backend.activate(5, vfs=_fabric.parse_vfs(["0000:b3:00.4", "bd:00.4"]))
    backend.set_activated([3, 5])
    backend.close()
    assert library.pending == []


def test_connection_failure_names_the_address():
    class Refusing(object):
        def fmLibInit(self):
            return 0

        def fmConnect(self, params, handle):
            return -9

        def fmLibShutdown(self):
            return 0

    backend = _fabric.LibnvfmBackend(Refusing(), address="10.0.0.9")
    with pytest.raises(HardwareError) as failure:
        backend.partitions()
    assert failure.value.error == "FM_ST_CONNECTION_NOT_VALID"
    assert "10.0.0.9" in str(failure.value) and "nvidia-fabricmanager" in str(failure.value)
    backend.close()


def test_unix_socket_of_fabricmanager_cfg_is_used_when_no_address_is_given(tmp_path, monkeypatch):
    config = tmp_path / "fabricmanager.cfg"
    config.write_text("FABRIC_MODE=1\nFM_CMD_UNIX_SOCKET_PATH=/run/nvidia-fabricmanager/fm.sock\n")
    library = RecordedLibnvfm("libnvfm_old_library_errors.json")  # connects to that socket
    monkeypatch.setattr(_fabric, "_load_libnvfm", lambda: library)
    fm = _fabric.FabricManager.open(config_path=str(config))
    assert fm.backend_name == "libnvfm" and fm.mode() == _libnvfm.SHARED_NVSWITCH
    with pytest.raises(HardwareError):
        fm.activate(3)

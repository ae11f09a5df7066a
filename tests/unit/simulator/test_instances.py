"""GPU/compute instance creation and destruction as the hardware behaves (reference
sections 4 and 7)."""

import ctypes

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

from .conftest import BOARD_PRESETS


def _ids(simulated, gpu_instances):
    return [simulated.gi_info(gi)[0] for gi in gpu_instances]


def _starts(simulated, gpu_instances):
    return [simulated.gi_info(gi)[2][0] for gi in gpu_instances]


@pytest.mark.parametrize("preset", ["dgx-h100", "dgx-a100"])
def test_seven_1g_instances_land_in_the_observed_order_with_driver_ids(mig_host, preset):
    """7x -cgi 19 on H100 created GI ids 13,11,12,7,8,9,10 at slots 6,4,5,0,1,2,3 [F1]."""
    simulated = mig_host(preset)
    created = [simulated.create_gi(19) for dummy in range(7)]
    assert _ids(simulated, created) == [13, 11, 12, 7, 8, 9, 10]
    assert _starts(simulated, created) == [6, 4, 5, 0, 1, 2, 3]
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(19)
    handle = simulated.handle(0)
    for info in simulated.profiles().values():
        assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, info.id) == 0


def test_a100_1g_1g_2g_3g_fails_at_the_3g_because_of_the_default_order(mig_host):
    """MIG guide: -cgi 19,19,14,9 fails with Insufficient Resources; 3g must come first."""
    simulated = mig_host("dgx-a100")
    first = [simulated.create_gi(profile) for profile in (19, 19, 14)]
    assert [simulated.gi_info(gi)[2] for gi in first] == [(6, 1), (4, 1), (0, 2)]
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(9)
    for gpu_instance in first:
        pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    # the same four instances fit when placed explicitly: only the default order fails
    for profile, placement in ((9, (4, 4)), (14, (0, 2)), (19, (2, 1)), (19, (3, 1))):
        simulated.create_gi(profile, placement)


def test_a100_3g_instances_get_ids_2_then_1(mig_host):
    """MIG guide: first 3g at 0:4 is GI 2, the second at 4:4 is GI 1."""
    simulated = mig_host("dgx-a100")
    created = [simulated.create_gi(9), simulated.create_gi(9)]
    assert [simulated.gi_info(gi)[::2] for gi in created] == [(2, (0, 4)), (1, (4, 4))]


def test_2g_lands_first_at_slot_4_as_gi_5(mig_host):
    simulated = mig_host("dgx-a100-80gb")
    assert simulated.gi_info(simulated.create_gi(14))[::2] == (5, (4, 2))


def test_gh200_three_1g_double_memory_instances_get_5_3_4(mig_host):
    """Three 1g.24gb on GH200 -> GI 5, 3, 4 (= 4:2, 0:2, 2:2) [F4]."""
    simulated = mig_host("gh200")
    created = [simulated.create_gi(15) for dummy in range(3)]
    assert [simulated.gi_info(gi)[::2] for gi in created] == [(5, (4, 2)), (3, (0, 2)), (4, (2, 2))]


def test_rtx_pro_6000_gi_ids_on_the_12_unit_grid(mig_host):
    """RTX PRO 6000: 2g at 0:6 -> 1, 1g at 6:3 / 9:3 -> 5 / 6 [F6]."""
    simulated = mig_host("rtx-pro-6000-x4")
    created = [simulated.create_gi(5, (0, 6)), simulated.create_gi(14, (6, 3)), simulated.create_gi(14, (9, 3))]
    assert [simulated.gi_info(gi)[::2] for gi in created] == [(1, (0, 6)), (5, (6, 3)), (6, (9, 3))]


def test_4g_and_3g_can_share_a_gpu_with_distinct_ids(mig_host):
    """Supported since R510 (reference 4); both prefer id 1, the driver hands out another."""
    simulated = mig_host("dgx-h100")
    created = [simulated.create_gi(5), simulated.create_gi(9)]
    assert [simulated.gi_info(gi)[2] for gi in created] == [(0, 4), (4, 4)]
    assert len(set(_ids(simulated, created))) == 2


@pytest.mark.parametrize("board", sorted(BOARD_PRESETS))
def test_overlap_and_instance_count_give_insufficient_resources(mig_host, board):
    simulated = mig_host(BOARD_PRESETS[board])
    profiles = simulated.profiles()
    full = max(profiles.values(), key=lambda info: (info.sliceCount, -info.id))
    simulated.create_gi(full.id)
    smallest = min(profiles.values(), key=lambda info: (info.sliceCount, info.id))
    placement = simulated.gi_placements(smallest.id)[0]
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(smallest.id, placement)
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(full.id)


@pytest.mark.parametrize("board", sorted(BOARD_PRESETS))
def test_a_second_plus_me_instance_is_refused(mig_host, board):
    """Second -cgi 20 -> Insufficient Resources [F4]: +me profiles exist once per GPU."""
    simulated = mig_host(BOARD_PRESETS[board])
    plus_me = [info for name, info in simulated.profiles().items() if name.endswith("+me")]
    assert plus_me
    first = plus_me[0]
    simulated.create_gi(first.id)
    for info in plus_me:
        with pytest.raises(pynvml.NVMLError_InsufficientResources):
            simulated.create_gi(info.id)


def test_rtx_pro_me_all_allows_only_no_me_profiles(mig_host):
    """+me.all 'prevents allocation of all but _NO_ME profiles' (nvml.h); one OFA makes
    +me and +me.all mutually exclusive (reference 3.12)."""
    simulated = mig_host("rtx-pro-6000-x4")
    ids = dict((name, info.id) for name, info in simulated.profiles().items())
    simulated.create_gi(ids["1g.24gb+me.all"], (0, 3))
    for refused in ("1g.24gb", "1g.24gb+me", "1g.24gb+gfx", "2g.48gb"):
        with pytest.raises(pynvml.NVMLError_InsufficientResources):
            simulated.create_gi(ids[refused])
    simulated.create_gi(ids["1g.24gb-me"], (3, 3))
    simulated.create_gi(ids["2g.48gb-me"], (6, 6))


def test_rtx_pro_me_then_me_all_is_refused(mig_host):
    simulated = mig_host("rtx-pro-6000-x4")
    ids = dict((name, info.id) for name, info in simulated.profiles().items())
    simulated.create_gi(ids["1g.24gb+me"])
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(ids["2g.48gb+me.all"])
    simulated.create_gi(ids["1g.24gb"])


def test_placement_the_profile_does_not_list_is_an_invalid_argument(mig_host):
    simulated = mig_host("dgx-a100")
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        simulated.create_gi(19, (7, 1))
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        simulated.create_gi(9, (2, 4))
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        simulated.create_gi(42)


def test_instances_need_mig_mode_but_reads_answer_as_on_an_empty_gpu(make_host):
    """MIG disabled, as the real H200 (driver 580.159.04) answered: creating fails, the
    reads succeed with the counts of a GPU without instances."""
    simulated = make_host("dgx-h100")
    handle = simulated.handle(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        simulated.create_gi(19)
    assert [pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, profile_id)
            for profile_id in (19, 14, 9, 5, 0, 20, 15)] == [7, 3, 2, 1, 1, 1, 4]
    array = (pynvml.c_nvmlGpuInstance_t * 7)()
    count = ctypes.c_uint(5)
    pynvml.nvmlDeviceGetGpuInstances(handle, 19, array, ctypes.byref(count))
    assert count.value == 0
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetGpuInstanceById(handle, 0)
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, 0)
    assert simulated.gi_placements(19) == [(s, 1) for s in range(7)]


def test_remaining_capacity_of_an_empty_gpu_is_the_instance_count(mig_host):
    simulated = mig_host("dgx-a100")
    handle = simulated.handle(0)
    for info in simulated.profiles().values():
        assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, info.id) == info.instanceCount
    simulated.create_gi(9)
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, 9) == 1
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, 5) == 0
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, 0) == 0


def test_listing_and_looking_up_gpu_instances(mig_host):
    simulated = mig_host("dgx-h100")
    handle = simulated.handle(0)
    simulated.create_gi(19)
    simulated.create_gi(19)
    array = (pynvml.c_nvmlGpuInstance_t * 7)()
    count = ctypes.c_uint(0)
    pynvml.nvmlDeviceGetGpuInstances(handle, 19, array, ctypes.byref(count))
    assert sorted(simulated.gi_info(gi)[0] for gi in array[: count.value]) == [11, 13]
    assert simulated.gi_info(pynvml.nvmlDeviceGetGpuInstanceById(handle, 11))[2] == (4, 1)
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetGpuInstanceById(handle, 7)


def test_destroying_a_gi_with_compute_instances_is_in_use(mig_host):
    simulated = mig_host("dgx-a100")
    gpu_instance = simulated.create_gi(9)
    compute_instance = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 2)
    with pytest.raises(pynvml.NVMLError_InUse):
        pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    pynvml.nvmlComputeInstanceDestroy(compute_instance)
    pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceDestroy(gpu_instance)


def test_processes_block_destroying_their_instances(mig_host):
    simulated = mig_host("dgx-h100")
    gpu_instance = simulated.create_gi(9)
    compute_instance = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 2)
    gi_id = simulated.gi_info(gpu_instance)[0]
    host.update_host(simulated.path, processes=[{"pid": 4242, "gpu": 0, "gi_id": gi_id, "ci_id": 0}])
    with pytest.raises(pynvml.NVMLError_InUse):
        pynvml.nvmlComputeInstanceDestroy(compute_instance)
    with pytest.raises(pynvml.NVMLError_InUse):
        pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    processes = pynvml.nvmlDeviceGetComputeRunningProcesses(simulated.handle(0))
    assert [(p.pid, p.gpuInstanceId, p.computeInstanceId) for p in processes] == [(4242, gi_id, 0)]
    host.update_host(simulated.path, processes=[])
    pynvml.nvmlComputeInstanceDestroy(compute_instance)
    pynvml.nvmlGpuInstanceDestroy(gpu_instance)


def test_a_process_holding_the_whole_gpu_blocks_gi_creation(mig_host):
    """GH200 log: creating a GI while nsys had /dev/nvidia0 open -> In use by another client."""
    simulated = mig_host("gh200")
    host.update_host(simulated.path, processes=[{"pid": 77, "gpu": 0, "name": "nsys"}])
    with pytest.raises(pynvml.NVMLError_InUse):
        simulated.create_gi(19)


def test_compute_instances_fill_a_gpu_instance(mig_host):
    simulated = mig_host("dgx-a100")
    gpu_instance = simulated.create_gi(0)
    one_slice = [pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0) for dummy in range(7)]
    infos = [pynvml.nvmlComputeInstanceGetInfo(ci) for ci in one_slice]
    assert [(info.id, info.placement.start) for info in infos] == [(c, c) for c in range(7)]
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    assert pynvml.nvmlGpuInstanceGetComputeInstanceRemainingCapacity(gpu_instance, 1) == 0
    pynvml.nvmlComputeInstanceDestroy(one_slice[3])
    replacement = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    assert pynvml.nvmlComputeInstanceGetInfo(replacement).id == 3
    lookup = pynvml.nvmlGpuInstanceGetComputeInstanceById(gpu_instance, 3)
    assert pynvml.nvmlComputeInstanceGetInfo(lookup).placement.start == 3
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlGpuInstanceGetComputeInstanceById(gpu_instance, 7)


def test_compute_instance_placements_and_explicit_placement(mig_host):
    simulated = mig_host("dgx-h100")
    gpu_instance = simulated.create_gi(0)
    count = ctypes.c_uint(0)
    pynvml.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gpu_instance, 2, None, ctypes.byref(count))
    array = (pynvml.c_nvmlComputeInstancePlacement_t * count.value)()
    pynvml.nvmlGpuInstanceGetComputeInstancePossiblePlacements(gpu_instance, 2, array, ctypes.byref(count))
    starts = [p.start for p in array[: count.value]]
    where = pynvml.c_nvmlComputeInstancePlacement_t(starts[-1], 3)
    placed = pynvml.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gpu_instance, 2, ctypes.byref(where))
    assert pynvml.nvmlComputeInstanceGetInfo(placed).placement.start == starts[-1]
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        pynvml.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gpu_instance, 2, ctypes.byref(where))
    bad = pynvml.c_nvmlComputeInstancePlacement_t(1, 3)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceCreateComputeInstanceWithPlacement(gpu_instance, 2, ctypes.byref(bad))
    listed = (pynvml.c_nvmlComputeInstance_t * 2)()
    pynvml.nvmlGpuInstanceGetComputeInstances(gpu_instance, 2, listed, ctypes.byref(count))
    assert count.value == 1

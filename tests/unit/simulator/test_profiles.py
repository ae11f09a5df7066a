"""Board data as NVML reports it, checked against the reference tables (mig-profiles.md)."""

import ctypes
import math

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import boards

from .conftest import BOARD_PRESETS
from .reference_tables import A100_40GB_COMPUTE_PROFILES, BALANCED_NAMES, BOARDS, GPU_INSTANCE_PROFILES
from .reference_tables import parse_placements

ALL_BOARDS = sorted(boards.BOARDS)


def test_every_board_is_covered_by_the_reference_tables_and_a_preset():
    assert sorted(GPU_INSTANCE_PROFILES) == ALL_BOARDS
    assert sorted(BOARD_PRESETS) == ALL_BOARDS


def _go_nvlib_name(info, total_mib):
    """go-nvlib's profile name derivation (reference section 6), Go rounding."""
    total = total_mib * 1024 * 1024
    fraction = info.memorySizeMB * 1024 * 1024 / total
    gigabytes = math.floor(math.ceil(fraction * 8) / 8 * math.ceil(total / 1024 ** 3) + 0.5)
    return "%dg.%dgb" % (info.sliceCount, gigabytes)


@pytest.mark.parametrize("board", ALL_BOARDS)
def test_device_identity_matches_reference(make_host, board):
    simulated = make_host(BOARD_PRESETS[board])
    name, device_id, architecture, total_mib, max_mig = BOARDS[board]
    handle = simulated.handle(0)
    if name is not None:
        assert pynvml.nvmlDeviceGetName(handle) == name
    assert pynvml.nvmlDeviceGetPciInfo(handle).pciDeviceId == (device_id << 16) | 0x10DE
    assert pynvml.nvmlDeviceGetArchitecture(handle) == architecture
    if total_mib is not None:
        assert pynvml.nvmlDeviceGetMemoryInfo(handle).total == total_mib * 1024 * 1024
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(handle) == 0
    simulated.enable_mig(0)
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(handle) == max_mig


@pytest.mark.parametrize("board", ALL_BOARDS)
def test_profile_info_matches_lgip_with_mig_disabled(make_host, board):
    """Profile queries answer with MIG disabled (current drivers, reference 7)."""
    simulated = make_host(BOARD_PRESETS[board])
    offered = simulated.profiles()
    expected = GPU_INSTANCE_PROFILES[board]
    assert sorted(offered) == sorted(row[0] for row in expected)
    for name, profile_id, instances, gib, sm, ce, dec, enc, jpeg, ofa, _placements in expected:
        info = offered[name]
        assert info.name == "MIG " + name
        assert info.sliceCount == int(name.split("g.")[0])
        assert info.instanceCount == instances
        assert info.isP2pSupported == 0
        for field, value in (("id", profile_id), ("multiprocessorCount", sm), ("copyEngineCount", ce),
                             ("decoderCount", dec), ("encoderCount", enc), ("jpegCount", jpeg), ("ofaCount", ofa)):
            if value is not None:
                assert getattr(info, field) == value, (name, field)
        if gib is not None:
            assert "%.2f" % (info.memorySizeMB / 1024) == gib, name


@pytest.mark.parametrize("board", ALL_BOARDS)
def test_profile_lookup_by_id_and_errors(make_host, board):
    simulated = make_host(BOARD_PRESETS[board])
    handle = simulated.handle(0)
    for name, info in simulated.profiles().items():
        by_id = pynvml.nvmlDeviceGetGpuInstanceProfileInfoById(handle, info.id)
        assert by_id.name == "MIG " + name
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetGpuInstanceProfileInfoById(handle, 99)


def test_profiles_a_board_lacks_are_not_supported(make_host):
    simulated = make_host("dgx-a100")
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetGpuInstanceProfileInfo(simulated.handle(0), pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE_GFX)


@pytest.mark.parametrize("board", ALL_BOARDS)
def test_possible_placements_as_lgipp_prints_them(make_host, board):
    simulated = make_host(BOARD_PRESETS[board])
    offered = simulated.profiles()
    for name, _id, _max, _gib, _sm, _ce, _dec, _enc, _jpeg, _ofa, placements in GPU_INSTANCE_PROFILES[board]:
        listed = simulated.gi_placements(offered[name].id)
        if placements is not None:
            assert listed == parse_placements(placements), name
        assert len(listed) >= offered[name].instanceCount


def test_placement_count_query_needs_a_large_enough_array(make_host):
    simulated = make_host("dgx-h100")
    count = ctypes.c_uint(2)
    array = (pynvml.c_nvmlGpuInstancePlacement_t * 2)()
    with pytest.raises(pynvml.NVMLError_InsufficientSize):
        pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(simulated.handle(0), 19, array, ctypes.byref(count))
    assert count.value == 7


@pytest.mark.parametrize("board", sorted(BALANCED_NAMES))
def test_go_nvlib_derived_names_match_nvml_names(make_host, board):
    """Memory totals and profile sizes are consistent, so tools that derive names
    themselves (go-nvlib, mig-parted) get the reference names (sections 6 and 9)."""
    simulated = make_host(BOARD_PRESETS[board])
    total_mib = pynvml.nvmlDeviceGetMemoryInfo(simulated.handle(0)).total // (1024 * 1024)
    offered = simulated.profiles()
    for name, info in offered.items():
        if "+" not in name and "-" not in name:
            assert _go_nvlib_name(info, total_mib) == name
    assert set(BALANCED_NAMES[board]) <= set(offered)


def test_a100_compute_instance_profiles_match_lcip(mig_host):
    simulated = mig_host("dgx-a100")
    for gi_profile_id, rows in A100_40GB_COMPUTE_PROFILES.items():
        gpu_instance = simulated.create_gi(gi_profile_id)
        offered = {}
        for enum in range(pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
            try:
                info = pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gpu_instance, enum, 0)
            except pynvml.NVMLError_NotSupported:
                continue
            offered[info.name[len("MIG "):]] = info
        assert sorted(offered) == sorted(row[0] for row in rows)
        for name, ci_id, instances, sm, _default in rows:
            assert (offered[name].id, offered[name].instanceCount, offered[name].multiprocessorCount) == (ci_id, instances, sm)
        pynvml.nvmlGpuInstanceDestroy(gpu_instance)


def test_no_3c_compute_instance_in_a_4g_instance(mig_host):
    simulated = mig_host("dgx-a100")
    gpu_instance = simulated.create_gi(5)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gpu_instance, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE, 0)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gpu_instance, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT, 0)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gpu_instance, 0, 1)


@pytest.mark.parametrize("preset, gi_profile, expected", [
    ("dgx-h100", 15, "1g.20gb (ID 7)"),  # [F5]
    ("gh200", 15, "1g.24gb (ID 7)"),  # [F4]
    ("dgx-a100-80gb", 20, "1g.10gb (ID 0)"),  # [F10]: the CI of a +me GI drops "+me"
    ("rtx-pro-6000-x4", 14, "1g.24gb (ID 0)"),  # [F6]
    ("rtx-pro-6000-x4", 5, "2g.48gb (ID 1)"),  # [F6]
])
def test_default_compute_instance_as_nvidia_smi_creates_it(mig_host, preset, gi_profile, expected):
    simulated = mig_host(preset)
    gpu_instance = simulated.create_gi(gi_profile)
    offered = []
    for enum in range(pynvml.NVML_COMPUTE_INSTANCE_PROFILE_COUNT):
        try:
            info = pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gpu_instance, enum, 0)
        except pynvml.NVMLError_NotSupported:
            continue
        offered.append("%s (ID %d)" % (info.name[len("MIG "):], info.id))
    assert expected in offered
    ci_profile = int(expected.split("ID ")[1].rstrip(")"))
    compute_instance = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, ci_profile)
    info = pynvml.nvmlComputeInstanceGetInfo(compute_instance)
    assert (info.id, info.profileId, info.placement.start) == (0, ci_profile, 0)


def test_unversioned_and_mis_versioned_profile_structs(make_host):
    simulated = make_host("dgx-h100")
    handle = simulated.handle(0)
    legacy = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(handle, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE, version=1)
    assert (legacy.id, legacy.memorySizeMB) == (19, 9984)
    function = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetGpuInstanceProfileInfoV")
    info = pynvml.c_nvmlGpuInstanceProfileInfo_v2_t()
    info.version = 0x01000098
    assert function(handle, 0, ctypes.byref(info)) == pynvml.NVML_ERROR_INVALID_ARGUMENT

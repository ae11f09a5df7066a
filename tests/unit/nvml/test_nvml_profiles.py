"""GPU-instance profiles and placements as NVML reports them through Hardware.

Expected placements are the `nvidia-smi mig -lgipp` listings of reference/mig-profiles.md
(sections 3.3, 3.4, 3.12 and 4).
"""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._model import Placement


def _placements(starts, size):
    return tuple(Placement(start, size) for start in starts)


LGIPP = {
    "dgx-h100": {
        19: ("1g.10gb", _placements(range(7), 1)),
        20: ("1g.10gb+me", _placements(range(7), 1)),
        15: ("1g.20gb", _placements([0, 2, 4, 6], 2)),
        14: ("2g.20gb", _placements([0, 2, 4], 2)),
        9: ("3g.40gb", _placements([0, 4], 4)),
        5: ("4g.40gb", _placements([0], 4)),
        0: ("7g.80gb", _placements([0], 8)),
    },
    "dgx-a100": {
        19: ("1g.5gb", _placements(range(7), 1)),
        20: ("1g.5gb+me", _placements(range(7), 1)),
        15: ("1g.10gb", _placements([0, 2, 4, 6], 2)),
        14: ("2g.10gb", _placements([0, 2, 4], 2)),
        9: ("3g.20gb", _placements([0, 4], 4)),
        5: ("4g.20gb", _placements([0], 4)),
        0: ("7g.40gb", _placements([0], 8)),
    },
    "a30-x4": {
        14: ("1g.6gb", _placements(range(4), 1)),
        21: ("1g.6gb+me", _placements(range(4), 1)),
        5: ("2g.12gb", _placements([0, 2], 2)),
        6: ("2g.12gb+me", _placements([0, 2], 2)),
        0: ("4g.24gb", _placements([0], 4)),
    },
    "rtx-pro-6000-x4": {
        14: ("1g.24gb", _placements([0, 3, 6, 9], 3)),
        21: ("1g.24gb+me", _placements([0, 3, 6, 9], 3)),
        47: ("1g.24gb+gfx", _placements([0, 3, 6, 9], 3)),
        65: ("1g.24gb+me.all", _placements([0, 3, 6, 9], 3)),
        67: ("1g.24gb-me", _placements([0, 3, 6, 9], 3)),
        5: ("2g.48gb", _placements([0, 6], 6)),
        35: ("2g.48gb+gfx", _placements([0, 6], 6)),
        64: ("2g.48gb+me.all", _placements([0, 6], 6)),
        66: ("2g.48gb-me", _placements([0, 6], 6)),
        0: ("4g.96gb", _placements([0], 12)),
        32: ("4g.96gb+gfx", _placements([0], 12)),
    },
}


@pytest.mark.parametrize("preset", sorted(LGIPP))
def test_profiles_and_placements_match_nvidia_smi_listings(preset, make_host, open_hardware):
    hardware = open_hardware(make_host(preset))
    hardware.set_mig_mode(0, True)
    if not hardware.device(0).mig_current:  # Ampere: the new mode needs a GPU reset
        hardware.reset_gpu(0)
    profiles = hardware.gpu_instance_profiles(0)
    found = dict((profile.profile_id, (profile.name, profile.placements)) for profile in profiles)
    assert found == LGIPP[preset]


def test_h100_profile_details_match_lgip(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-h100"))
    by_name = dict((profile.name, profile) for profile in hardware.gpu_instance_profiles(0))
    seven = by_name["7g.80gb"]
    assert (seven.slice_count, seven.instance_count, seven.memory_mb, seven.multiprocessor_count) == (7, 1, 81152, 132)
    assert tuple(seven.engines) == (8, 7, 0, 7, 1)
    assert by_name["1g.10gb+me"].instance_count == 1
    assert by_name["1g.10gb"].instance_count == 7


def test_compute_profiles_appear_once_a_gpu_instance_of_the_profile_exists(make_host, open_hardware):
    hardware = open_hardware(make_host("dgx-h100"))
    hardware.set_mig_mode(0, True)
    assert all(profile.compute_profiles == () for profile in hardware.gpu_instance_profiles(0))

    three = hardware.create_gpu_instance(0, 9)
    computes = dict((profile.profile_id, profile.compute_profiles) for profile in hardware.gpu_instance_profiles(0))[9]
    assert [(ci.name, ci.slice_count) for ci in computes] == [("1c.3g.40gb", 1), ("2c.3g.40gb", 2), ("3g.40gb", 3)]
    assert [ci.name for ci in computes if ci.is_default] == ["3g.40gb"]
    assert hardware.compute_instance_profiles(0, three.gi_id) == computes

    # Learned profiles stay known for the board after the instance is gone, on every GPU.
    hardware.destroy_gpu_instance(0, three.gi_id)
    hardware.set_mig_mode(1, True)
    again = dict((profile.profile_id, profile.compute_profiles) for profile in hardware.gpu_instance_profiles(1))
    assert again[9] == computes
    assert again[0] == ()


def test_default_compute_profile_of_h100_double_memory_1g_is_rev1(make_host, open_hardware):
    # reference 5: `-cgi 15 -C` on H100 creates "MIG 1g.20gb (ID 7)".
    hardware = open_hardware(make_host("dgx-h100"))
    hardware.set_mig_mode(0, True)
    gpu_instance = hardware.create_gpu_instance(0, 15)
    defaults = [ci.profile_id for ci in hardware.compute_instance_profiles(0, gpu_instance.gi_id) if ci.is_default]
    assert defaults == [7]


def test_profiles_are_read_once_per_board_and_mig_mode(make_host, open_hardware, monkeypatch):
    import pynvml

    hardware = open_hardware(make_host("dgx-h100"))
    calls = []
    original = pynvml.nvmlDeviceGetGpuInstanceProfileInfo
    monkeypatch.setattr(pynvml, "nvmlDeviceGetGpuInstanceProfileInfo", lambda *args: calls.append(args) or original(*args))
    for index in range(8):
        hardware.gpu_instance_profiles(index)
    after_mig_off = len(calls)
    hardware.set_mig_mode(3, True)
    hardware.gpu_instance_profiles(3)
    hardware.gpu_instance_profiles(4)
    assert after_mig_off > 0
    # Seven more GPUs of the same board and the same mode cost nothing; MIG on reads again once.
    assert len(calls) == 2 * after_mig_off

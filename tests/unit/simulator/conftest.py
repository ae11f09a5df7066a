"""Fixtures for the simulator contract tests: every test talks to the simulated host
through the real pynvml module, exactly as the production code does."""

import ctypes

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host, nvml_lib, presets

BOARD_PRESETS = {}
# One bare-metal preset per board (guests cannot reset, which Ampere MIG mode changes need).
for _name, _preset in sorted(presets.PRESETS.items(), key=lambda item: (item[1]["virtualization_mode"] != "none", item[0])):
    BOARD_PRESETS.setdefault(_preset["board"], _name)


class SimulatedHost(object):
    """A simulated host with pynvml initialised against it."""

    def __init__(self, path):
        self.path = path

    def handle(self, index=0):
        return pynvml.nvmlDeviceGetHandleByIndex(index)

    def enable_mig(self, index=0):
        """Enable MIG the way an operator would: set it, reset the GPU if still pending."""
        handle = self.handle(index)
        pynvml.nvmlDeviceSetMigMode(handle, pynvml.NVML_DEVICE_MIG_ENABLE)
        if pynvml.nvmlDeviceGetMigMode(handle)[0] != pynvml.NVML_DEVICE_MIG_ENABLE:
            host.reset_gpu(self.path, index)
        return handle

    def create_gi(self, profile_id, placement=None, index=0):
        handle = self.handle(index)
        if placement is None:
            return pynvml.nvmlDeviceCreateGpuInstance(handle, profile_id)
        where = pynvml.c_nvmlGpuInstancePlacement_t(*placement)
        return pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(handle, profile_id, ctypes.byref(where))

    @staticmethod
    def gi_info(gpu_instance):
        info = pynvml.nvmlGpuInstanceGetInfo(gpu_instance)
        return info.id, info.profileId, (info.placement.start, info.placement.size)

    def gi_placements(self, profile_id, index=0):
        handle = self.handle(index)
        count = ctypes.c_uint(0)
        pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, None, ctypes.byref(count))
        array = (pynvml.c_nvmlGpuInstancePlacement_t * count.value)()
        pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, array, ctypes.byref(count))
        return [(p.start, p.size) for p in array[: count.value]]

    def profiles(self, index=0):
        """{name without 'MIG ': v2 info} of every GI profile the GPU offers."""
        found = {}
        for enum in range(pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT):
            try:
                info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(self.handle(index), enum)
            except (pynvml.NVMLError_NotSupported, pynvml.NVMLError_InvalidArgument):
                continue  # not offered; enums the driver does not know (>= 0x11) are invalid
            found[info.name[len("MIG "):]] = info
        return found


@pytest.fixture
def make_host(tmp_path):
    """make_host(preset, **create_host options) -> SimulatedHost with NVML initialised."""
    libraries = []

    def make(preset, name="host.json", **options):
        path = str(tmp_path / name)
        host.create_host(path, preset, **options)
        libraries.append(nvml_lib.install(path))
        pynvml.nvmlInit()
        return SimulatedHost(path)

    yield make
    for _library in libraries:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    nvml_lib.uninstall()


@pytest.fixture
def mig_host(make_host):
    """make_host plus MIG enabled on GPU 0."""

    def make(preset, **options):
        simulated = make_host(preset, **options)
        simulated.enable_mig(0)
        return simulated

    return make

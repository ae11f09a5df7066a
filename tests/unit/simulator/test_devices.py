"""MIG device handles and UUIDs, device lookup, the host's device nodes and mig-minors,
and one machine shared by separate processes."""

import os
import re
import subprocess
import sys
import textwrap

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host, nvml_lib

MIG_UUID = re.compile(r"^MIG-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
GPU_UUID = re.compile(r"^GPU-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _mig_devices(handle):
    found = []
    index = 0
    while True:
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
        except pynvml.NVMLError_NotFound:
            return found
        found.append((pynvml.nvmlDeviceGetGpuInstanceId(mig), pynvml.nvmlDeviceGetComputeInstanceId(mig),
                      pynvml.nvmlDeviceGetUUID(mig)))
        index += 1


def test_mig_devices_are_dense_and_ordered_by_gi_then_ci(mig_host):
    simulated = mig_host("dgx-a100")
    handle = simulated.handle(0)
    seven = simulated.create_gi(0)
    for dummy in range(2):
        pynvml.nvmlGpuInstanceCreateComputeInstance(seven, 0)
    assert [(gi, ci) for gi, ci, _uuid in _mig_devices(handle)] == [(0, 0), (0, 1)]
    assert all(MIG_UUID.match(uuid) for _gi, _ci, uuid in _mig_devices(handle))
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, 2)


def test_mig_device_properties(mig_host):
    simulated = mig_host("dgx-a100")
    handle = simulated.handle(0)
    gpu_instance = simulated.create_gi(9)
    pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, 0)
    assert pynvml.nvmlDeviceIsMigDeviceHandle(mig).value == 1
    assert pynvml.nvmlDeviceIsMigDeviceHandle(handle).value == 0
    assert pynvml.nvmlDeviceGetName(mig) == "NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb"
    assert pynvml.nvmlDeviceGetMemoryInfo(mig).total == 19968 * 1024 * 1024
    attributes = pynvml.nvmlDeviceGetAttributes(mig)
    assert (attributes.gpuInstanceSliceCount, attributes.computeInstanceSliceCount,
            attributes.multiprocessorCount, attributes.sharedDecoderCount) == (3, 1, 14, 2)
    parent = pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)
    assert pynvml.nvmlDeviceGetUUID(parent) == pynvml.nvmlDeviceGetUUID(handle)
    by_uuid = pynvml.nvmlDeviceGetHandleByUUID(pynvml.nvmlDeviceGetUUID(mig))
    assert pynvml.nvmlDeviceGetGpuInstanceId(by_uuid) == 2
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetGpuInstanceId(handle)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetMigMode(mig)


def test_mig_uuids_are_stable_and_recreated_instances_get_new_ones(mig_host):
    simulated = mig_host("dgx-h100")
    handle = simulated.handle(0)
    gpu_instance = simulated.create_gi(19)
    compute_instance = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    first = _mig_devices(handle)[0][2]
    assert _mig_devices(handle)[0][2] == first
    pynvml.nvmlComputeInstanceDestroy(compute_instance)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlComputeInstanceGetInfo(compute_instance)
    pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    assert _mig_devices(handle)[0][2] != first


def test_max_mig_device_count_only_in_mig_mode(make_host):
    simulated = make_host("rtx-pro-6000-x4")
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(simulated.handle(0)) == 0
    simulated.enable_mig(0)
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(simulated.handle(0)) == 4


def test_device_lookup_and_identity(make_host):
    simulated = make_host("dgx-a100")
    uuids = [pynvml.nvmlDeviceGetUUID(simulated.handle(i)) for i in range(8)]
    assert all(GPU_UUID.match(uuid) for uuid in uuids) and len(set(uuids)) == 8
    handle = pynvml.nvmlDeviceGetHandleByUUID(uuids[3])
    assert pynvml.nvmlDeviceGetMinorNumber(handle) == 3
    assert pynvml.nvmlDeviceGetModuleId(handle) == 4
    for bus_id in ("00000000:47:00.0", "0000:47:00.0", "47:00.0", "00000000:47:00.0".lower()):
        assert pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)) == uuids[2]
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetHandleByPciBusId("00000000:01:00.0")
    with pytest.raises(pynvml.NVMLError_NotFound):
        pynvml.nvmlDeviceGetHandleByUUID("GPU-00000000-0000-0000-0000-000000000000")
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceGetHandleByIndex(8)
    pci = pynvml.nvmlDeviceGetPciInfo(simulated.handle(7))
    assert (pci.busId, pci.bus, pci.domain) == ("00000000:BD:00.0", 0xBD, 0)


def test_gpu_uuids_are_deterministic_per_host_path(tmp_path):
    first = host.create_host(str(tmp_path / "a.json"), "gh200")
    again = host.create_host(str(tmp_path / "a.json"), "gh200", replace=True)
    other = host.create_host(str(tmp_path / "b.json"), "gh200")
    assert first["gpus"][0]["uuid"] == again["gpus"][0]["uuid"] != other["gpus"][0]["uuid"]


def test_processes_on_mig_devices_and_process_names(mig_host):
    simulated = mig_host("dgx-h100")
    gpu_instance = simulated.create_gi(9)
    pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 0)
    gi_id = simulated.gi_info(gpu_instance)[0]
    host.update_host(simulated.path, processes=[
        {"pid": 11, "gpu": 0, "gi_id": gi_id, "ci_id": 1, "name": "infer", "used_memory_mb": 1024}])
    mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(simulated.handle(0), 1)
    processes = pynvml.nvmlDeviceGetComputeRunningProcesses(mig)
    assert [(p.pid, p.usedGpuMemory) for p in processes] == [(11, 1024 * 1024 * 1024)]
    other = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(simulated.handle(0), 0)
    assert pynvml.nvmlDeviceGetComputeRunningProcesses(other) == []
    assert pynvml.nvmlSystemGetProcessName(11) == "infer"


def test_process_specs_must_name_existing_instances(mig_host):
    from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError

    simulated = mig_host("dgx-h100")
    with pytest.raises(InputError) as raised:
        host.update_host(simulated.path, processes=[{"pid": 1, "gpu": 0, "gi_id": 3}])
    assert raised.value.option == "processes.gi_id"
    with pytest.raises(InputError):
        host.update_host(simulated.path, processes=[{"pid": 1, "gpu": 1, "gi_id": 3}])
    with pytest.raises(InputError):
        host.update_host(simulated.path, processes=[{"pid": 1, "gpu": 0}, {"pid": 1, "gpu": 1}])


def test_unimplemented_functions_and_calls_before_init(make_host):
    simulated = make_host("dgx-h100")
    with pytest.raises(pynvml.NVMLError_FunctionNotFound):
        pynvml.nvmlDeviceGetFanSpeed(simulated.handle(0))
    library = nvml_lib.SimulatedNvmlLibrary(simulated.path)
    assert library.nvmlDeviceGetCount_v2(None) == pynvml.NVML_ERROR_UNINITIALIZED
    assert library.nvmlShutdown() == pynvml.NVML_ERROR_UNINITIALIZED
    assert pynvml.nvmlErrorString(pynvml.NVML_ERROR_IN_USE) == "In use by another client"


def test_a_missing_state_file_means_no_driver(tmp_path):
    path = str(tmp_path / "gone.json")
    host.create_host(path, "gh200")
    nvml_lib.install(path)
    try:
        pynvml.nvmlInit()
        host.remove_host(path)
        with pytest.raises(pynvml.NVMLError_DriverNotLoaded):
            pynvml.nvmlDeviceGetCount()
    finally:
        nvml_lib.uninstall()
    with pytest.raises(Exception) as raised:
        nvml_lib.install(path)
    assert "does not exist" in str(raised.value)


def test_mig_minors_table_matches_the_driver_formula(make_host):
    simulated = make_host("dgx-a100")
    lines = open(host.paths(simulated.path)["mig_minors_path"]).read().splitlines()
    assert lines[:4] == ["config 1", "monitor 2", "gpu0/gi0/access 3", "gpu0/gi0/ci0/access 4"]
    assert len(lines) == 2 + 32 * 15 * 9
    # samples quoted in fabric-manager-and-cdi.md B3
    for sample in ("gpu0/gi0/ci2/access 6", "gpu3/gi3/ci3/access 439", "gpu6/gi11/ci7/access 920",
                   "gpu0/gi1/access 12", "gpu0/gi1/ci0/access 13"):
        assert sample in lines


def test_device_nodes_follow_instances(mig_host):
    simulated = mig_host("dgx-h100")
    dev = os.path.join(host.paths(simulated.path)["dev_root"], "dev")
    for name in ["nvidia%d" % minor for minor in range(8)] + ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
                                                              "nvidia-modeset"]:
        assert os.path.isfile(os.path.join(dev, name))
    caps = os.path.join(dev, "nvidia-caps")
    gpu_instance = simulated.create_gi(0)
    compute_instance = pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 4)
    # gpu0/gi0/access 3, gpu0/gi0/ci0/access 4 (B3)
    assert sorted(os.listdir(caps)) == ["nvidia-cap1", "nvidia-cap2", "nvidia-cap3", "nvidia-cap4"]
    pynvml.nvmlComputeInstanceDestroy(compute_instance)
    pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    assert sorted(os.listdir(caps)) == ["nvidia-cap1", "nvidia-cap2"]


def test_a_second_process_sees_the_same_machine(mig_host):
    simulated = mig_host("dgx-a100")
    gpu_instance = simulated.create_gi(9)
    pynvml.nvmlGpuInstanceCreateComputeInstance(gpu_instance, 2)
    mig_uuid = _mig_devices(simulated.handle(0))[0][2]
    script = textwrap.dedent("""
        import sys
        import pynvml
        from ansible_collections.gpuops.mig.plugins.module_utils._simulator import nvml_lib
        nvml_lib.install(sys.argv[1])
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, 0)
        print(pynvml.nvmlDeviceGetUUID(mig))
        pynvml.nvmlDeviceCreateGpuInstance(handle, 9)
    """)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    completed = subprocess.run([sys.executable, "-c", script, simulated.path],
                               capture_output=True, text=True, timeout=60, env=environment, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == mig_uuid
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(simulated.handle(0), 9) == 0

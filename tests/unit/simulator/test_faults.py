"""Fault injection, lost GPUs, latency and the state file's read/write discipline."""

import json
import os
import threading

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host, nvml_lib


def test_the_nth_call_fails_once(mig_host):
    simulated = mig_host("dgx-h100", faults=[
        {"function": "nvmlDeviceCreateGpuInstance", "call": 2, "error": "NVML_ERROR_INSUFFICIENT_RESOURCES"}])
    simulated.create_gi(19)
    with pytest.raises(pynvml.NVMLError_InsufficientResources):
        simulated.create_gi(19)
    simulated.create_gi(19)
    assert host.describe_host(simulated.path)["faults"] == []


def test_a_fault_scoped_to_one_gpu_leaves_the_others_alone(make_host):
    simulated = make_host("dgx-h100", faults=[
        {"function": "nvmlDeviceSetMigMode", "gpu": 3, "error": "NVML_ERROR_UNKNOWN"}])
    pynvml.nvmlDeviceSetMigMode(simulated.handle(0), 1)
    with pytest.raises(pynvml.NVMLError_Unknown):
        pynvml.nvmlDeviceSetMigMode(simulated.handle(3), 1)
    assert pynvml.nvmlDeviceGetMigMode(simulated.handle(3)) == [0, 0]


def test_a_persistent_fault_on_a_read_call_keeps_failing(make_host):
    simulated = make_host("dgx-a100", faults=[
        {"function": "nvmlDeviceGetMigMode", "error": "NVML_ERROR_TIMEOUT", "persistent": True}])
    for dummy in range(3):
        with pytest.raises(pynvml.NVMLError_Timeout):
            pynvml.nvmlDeviceGetMigMode(simulated.handle(0))
    host.update_host(simulated.path, faults=[])
    assert pynvml.nvmlDeviceGetMigMode(simulated.handle(0)) == [0, 0]


def test_a_lost_gpu_answers_every_call_with_gpu_is_lost(make_host):
    simulated = make_host("dgx-a100")
    handle = simulated.handle(5)
    host.update_host(simulated.path, faults=[{"gpu": 5, "lost": True}])
    for call, args in ((pynvml.nvmlDeviceGetMigMode, (handle,)), (pynvml.nvmlDeviceGetName, (handle,)),
                       (pynvml.nvmlDeviceGetHandleByIndex, (5,)), (pynvml.nvmlDeviceSetMigMode, (handle, 1))):
        with pytest.raises(pynvml.NVMLError_GpuIsLost):
            call(*args)
    assert pynvml.nvmlDeviceGetCount() == 8
    assert pynvml.nvmlDeviceGetMigMode(simulated.handle(4)) == [0, 0]
    with pytest.raises(host.SimulatedHostError) as raised:
        host.reset_gpu(simulated.path, 5)
    assert raised.value.nvml_error == "NVML_ERROR_GPU_IS_LOST"
    host.reboot_host(simulated.path)
    assert pynvml.nvmlDeviceGetMigMode(handle) == [0, 0]


def test_a_fired_gpu_is_lost_fault_loses_the_gpu(mig_host):
    simulated = mig_host("dgx-h100", faults=[
        {"function": "nvmlDeviceCreateGpuInstance", "gpu": 0, "error": "NVML_ERROR_GPU_IS_LOST"}])
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        simulated.create_gi(19)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        pynvml.nvmlDeviceGetHandleByPciBusId("18:00.0")
    assert host.describe_host(simulated.path)["gpus"][0]["lost"] is True


@pytest.mark.parametrize("fault, option", [
    ({"function": "nvmlDeviceCreateGpuInstance", "error": "NVML_ERROR_BOGUS"}, "faults.error"),
    ({"function": "nvmlFrobnicate", "error": "NVML_ERROR_UNKNOWN"}, "faults.function"),
    ({"function": "nvmlDeviceCreateGpuInstance", "error": "NVML_ERROR_UNKNOWN", "call": 0}, "faults.call"),
    ({"function": "nvmlDeviceCreateGpuInstance", "error": "NVML_ERROR_UNKNOWN", "gpu": 9}, "faults.gpu"),
    ({"gpu": 0, "lost": "yes"}, "faults.lost"),
])
def test_bad_fault_specs_are_refused_before_anything_changes(make_host, fault, option):
    simulated = make_host("dgx-h100")
    before = open(simulated.path).read()
    with pytest.raises(InputError) as raised:
        host.update_host(simulated.path, faults=[fault])
    assert raised.value.option == option
    if option == "faults.error":
        assert "NVML_ERROR_IN_USE" in str(raised.value)
    if option == "faults.function":
        assert "nvmlDeviceCreateGpuInstance" in str(raised.value)
    assert open(simulated.path).read() == before


def test_read_calls_never_write_and_mutations_are_counted(mig_host):
    simulated = mig_host("dgx-h100")
    stat_before = os.stat(simulated.path)
    handle = simulated.handle(0)
    pynvml.nvmlDeviceGetMigMode(handle)
    simulated.profiles()
    pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(handle, 19)
    stat_after = os.stat(simulated.path)
    assert (stat_before.st_ino, stat_before.st_mtime_ns) == (stat_after.st_ino, stat_after.st_mtime_ns)
    gpu_instance = simulated.create_gi(19)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        simulated.create_gi(19, (7, 1))
    pynvml.nvmlGpuInstanceDestroy(gpu_instance)
    counts = json.load(open(simulated.path))["mutating_calls"]
    assert counts == {"nvmlDeviceSetMigMode": 1, "nvmlDeviceCreateGpuInstance": 1,
                      "nvmlDeviceCreateGpuInstanceWithPlacement": 1, "nvmlGpuInstanceDestroy": 1}


def test_reads_parse_the_state_file_only_after_it_changed(make_host, monkeypatch):
    simulated = make_host("dgx-h100")
    parsed = []
    real_read_state = nvml_lib.read_state
    monkeypatch.setattr(nvml_lib, "read_state", lambda path: parsed.append(path) or real_read_state(path))
    handle = simulated.handle(0)
    for dummy in range(20):
        pynvml.nvmlDeviceGetMigMode(handle)
    assert len(parsed) <= 1
    host.update_host(simulated.path, reset_supported=False)
    pynvml.nvmlDeviceGetMigMode(handle)
    assert len(parsed) <= 2 and parsed


def test_threads_mutating_different_gpus_all_succeed(make_host):
    simulated = make_host("dgx-b200")
    for index in range(8):
        simulated.enable_mig(index)
    errors = []

    def fill(index):
        try:
            for dummy in range(7):
                simulated.create_gi(19, index=index)
        except pynvml.NVMLError as error:
            errors.append(error)

    threads = [threading.Thread(target=fill, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    summary = host.describe_host(simulated.path)
    assert [len(gpu["gpu_instances"]) for gpu in summary["gpus"]] == [7] * 8
    assert summary["mutating_calls"]["nvmlDeviceCreateGpuInstance"] == 56


def test_configured_latency_is_spent_per_call(make_host, monkeypatch):
    slept = []
    monkeypatch.setattr(nvml_lib.time, "sleep", slept.append)
    simulated = make_host("dgx-h100", latency={"default": 0.001, "nvmlDeviceSetMigMode": 0.5})
    pynvml.nvmlDeviceSetMigMode(simulated.handle(0), 1)
    assert 0.5 in slept
    assert slept.count(0.001) >= 2
    host.update_host(simulated.path, latency="realistic")
    del slept[:]
    simulated.create_gi(19)
    assert max(slept) > 0.001


def test_bad_latency_is_refused(make_host):
    simulated = make_host("gh200")
    with pytest.raises(InputError):
        host.update_host(simulated.path, latency={"nvmlNoSuchCall": 1})
    with pytest.raises(InputError):
        host.update_host(simulated.path, latency={"default": -1})
    with pytest.raises(InputError):
        host.update_host(simulated.path, latency="fast")

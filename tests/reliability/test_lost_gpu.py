"""A GPU that fell off the bus, a driver that is not loaded, missing bindings: every
module fails with a message that says what happened, never with a traceback, and
changes nothing."""

import json
import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _nvml
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import HARDWARE_MODULES, journal_path, run_module, tree_snapshot

LOST_HINT = "fallen off the bus"


def _args(name, tmp_path, **extra):
    args = {
        "gpu_info": {},
        "mig_mode": {"state": "disabled"},
        "mig_instance": {"layout": ["1g.10gb", "3g.40gb"]},
        "cdi_spec": {"path": str(tmp_path / "cdi" / "nvidia.yaml")},
        "fabric_partition": {"partition_id": 3},
    }[name]
    return dict(args, **extra)


def _assert_clear_failure(result):
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    assert "exception" not in result or "Traceback" not in result["exception"], result


@pytest.fixture
def dgx_with_lost_gpu(host_factory):
    """DGX H100, shared NVSwitch, MIG on, one 1g.10gb on GPU 0; GPU 5 fell off the bus."""
    path = host_factory("dgx-h100", fabric_mode=1)
    assert not run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": ["1g.10gb"]}).get("failed")
    simulated_host.update_host(path, faults=[{"gpu": 5, "lost": True}])
    return path


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_a_lost_gpu_fails_the_module_naming_the_gpu_and_the_error(dgx_with_lost_gpu, tmp_path, name):
    hosts = tmp_path / "hosts"
    before = tree_snapshot(hosts)
    result = run_module(name, _args(name, tmp_path, simulator=dgx_with_lost_gpu))
    _assert_clear_failure(result)
    assert result["error"] == "NVML_ERROR_GPU_IS_LOST" and result["gpu"] == 5
    assert "GPU 5" in result["msg"] and LOST_HINT in result["msg"]
    assert tree_snapshot(hosts) == before
    assert not (tmp_path / "cdi").exists()


@pytest.mark.parametrize("name", ["mig_mode", "mig_instance", "cdi_spec"])
def test_gpus_selected_by_index_work_beside_a_lost_gpu(dgx_with_lost_gpu, tmp_path, name):
    args = _args(name, tmp_path, simulator=dgx_with_lost_gpu, gpus=["0", "1"])
    if name == "mig_mode":
        args["state"] = "enabled"
    result = run_module(name, args)
    assert result.get("failed") is not True, result.get("msg", result)


@pytest.mark.parametrize(
    "selection",
    [
        pytest.param({"gpus": ["0"]}, id="index"),
        pytest.param({"gpus": ["0"], "fabric": False}, id="index-without-fabric"),
        pytest.param({"gpus": ["00000000:18:00.0"], "fabric": False}, id="bus-id-without-fabric"),
    ],
)
def test_gpu_info_reports_healthy_gpus_beside_a_lost_one(dgx_with_lost_gpu, selection):
    result = run_module("gpu_info", dict(selection, simulator=dgx_with_lost_gpu))
    assert result.get("failed") is not True, result.get("msg", result)
    assert [gpu["index"] for gpu in result["gpus"]] == [0]


@pytest.mark.parametrize(
    "function",
    ["nvmlDeviceGetMigMode", "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetGpuInstances"],
)
def test_a_gpu_lost_during_the_run_fails_cleanly(host_factory, tmp_path, function):
    path = host_factory("dgx-h100")
    simulated_host.update_host(path, faults=[{"function": function, "error": "NVML_ERROR_GPU_IS_LOST", "gpu": 2}])
    before_layout = simulated_host.describe_host(path)["gpus"]
    result = run_module("mig_instance", {"simulator": path, "layout": ["2g.20gb"]})
    _assert_clear_failure(result)
    assert result["error"] == "NVML_ERROR_GPU_IS_LOST" and result["gpu"] == 2 and LOST_HINT in result["msg"]
    after = simulated_host.describe_host(path)["gpus"]
    assert [gpu["gpu_instances"] for gpu in after] == [gpu["gpu_instances"] for gpu in before_layout]


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_a_driver_that_is_not_loaded_fails_every_module_with_a_hint(host_factory, tmp_path, name):
    path = host_factory("dgx-h100", mig=False)
    simulated_host.update_host(
        path, faults=[{"function": "nvmlInitWithFlags", "error": "NVML_ERROR_DRIVER_NOT_LOADED", "persistent": True}]
    )
    result = run_module(name, _args(name, tmp_path, simulator=path))
    _assert_clear_failure(result)
    assert result["error"] == "NVML_ERROR_DRIVER_NOT_LOADED" and result["call"] == "nvmlInit"
    assert "kernel driver is not loaded" in result["msg"]
    assert not (tmp_path / "cdi").exists()


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_a_host_without_the_nvidia_driver_fails_every_module_with_a_hint(tmp_path, name):
    result = run_module(name, _args(name, tmp_path))
    _assert_clear_failure(result)
    assert result["error"] == "NVML_ERROR_LIBRARY_NOT_FOUND"
    assert "NVIDIA driver is not installed" in result["msg"] and "simulator" in result["msg"]


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_missing_nvml_bindings_fail_every_module_naming_the_package(host_factory, tmp_path, monkeypatch, name):
    path = host_factory("gh200", mig=False)
    monkeypatch.setattr(_nvml, "pynvml", None)
    monkeypatch.setattr(_nvml, "PYNVML_IMPORT_ERROR", "ImportError: No module named 'pynvml'")
    result = run_module(name, _args(name, tmp_path, simulator=path))
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") and "nvidia-ml-py" in result["msg"]


@pytest.mark.parametrize("name", ["gpu_info", "mig_instance"])
def test_a_failing_nvml_shutdown_does_not_hide_the_result(host_factory, tmp_path, name):
    """nvmlShutdown is the last call of every run; when the driver goes away just then,
    the work is done and the result (what changed) must still reach the user."""
    path = host_factory("gh200")
    simulated_host.update_host(path, faults=[{"function": "nvmlShutdown", "error": "NVML_ERROR_DRIVER_NOT_LOADED"}])
    result = run_module(name, _args(name, tmp_path, simulator=path, layout=["1g.12gb"]) if name == "mig_instance" else {"simulator": path})
    assert "traceback" not in result, result["traceback"]
    if name == "mig_instance":
        assert result["changed"] and len(simulated_host.describe_host(path)["gpus"][0]["gpu_instances"]) == 1


def test_a_lost_gpu_named_in_the_journal_blocks_only_itself(host_dir):
    """Issue 16 case 5: a run was interrupted on GPUs 1 and 2, then GPU 2 fell off the bus.
    Runs on other GPUs settle GPU 1 and go on; the journal keeps GPU 2's entry; a run on
    GPU 2 fails naming it and what to do; once GPU 2 answers again the next run settles it."""
    from reliability_plans import PLANS, build_host, host_gpus, layout_key
    from test_interruption import die_between_call_and_journal

    plan = next(plan for plan in PLANS if plan.name == "h100-reshape")
    path = build_host(host_dir, plan)
    initial = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    die_between_call_and_journal(plan, path, 2, 3)
    simulated_host.update_host(path, faults=[{"gpu": 2, "lost": True}])

    other = run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": ["7g.80gb"]})
    assert other.get("failed") is not True, other.get("msg", other)
    assert other["recovered"] is True and other["unsettled_gpus"] == [2]
    assert layout_key(host_gpus(path)[1]["gpu_instances"]) == initial[1]
    with open(journal_path(path)) as handle:
        assert sorted(json.load(handle)["gpus"]) == ["2"]
    mode = run_module("mig_mode", {"simulator": path, "gpus": ["0"], "state": "enabled"})
    assert mode.get("failed") is not True and mode["unsettled_gpus"] == [2], mode.get("msg", mode)

    blocked = run_module("mig_instance", {"simulator": path, "gpus": ["2"], "layout": ["7g.80gb"]})
    _assert_clear_failure(blocked)
    assert blocked["gpu"] == 2 and blocked["error"] == "NVML_ERROR_GPU_IS_LOST"
    assert LOST_HINT in blocked["msg"]

    simulated_host.update_host(path, faults=[{"gpu": 2, "lost": False}])
    settled = run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": ["7g.80gb"]})
    assert settled.get("failed") is not True and settled["recovered"] is True, settled.get("msg", settled)
    assert layout_key(host_gpus(path)[2]["gpu_instances"]) == initial[2]
    assert not os.path.exists(journal_path(path))


def test_a_journal_gpu_that_cannot_list_its_instances_names_the_journal(host_dir):
    """The GPU answers but its instances cannot be read: a run on it fails naming the
    journal and what to do; a run on another GPU goes on."""
    from reliability_plans import PLANS, build_host
    from test_interruption import die_between_call_and_journal

    plan = next(plan for plan in PLANS if plan.name == "h100-reshape")
    path = build_host(host_dir, plan)
    die_between_call_and_journal(plan, path, 2, 3)
    simulated_host.update_host(
        path, faults=[{"function": "nvmlDeviceGetGpuInstances", "error": "NVML_ERROR_GPU_IS_LOST", "gpu": 2, "persistent": True}]
    )
    blocked = run_module("mig_mode", {"simulator": path, "gpus": ["2"], "state": "enabled"})
    _assert_clear_failure(blocked)
    assert blocked["gpu"] == 2 and journal_path(path) in blocked["msg"] and "next run settles" in blocked["msg"]
    other = run_module("mig_mode", {"simulator": path, "gpus": ["4"], "state": "enabled"})
    assert other.get("failed") is not True and other["unsettled_gpus"] == [2], other.get("msg", other)

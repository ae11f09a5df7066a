"""Fault matrix, the calls outside mig_instance: MIG mode changes (mig_mode, with the
instances it destroys under force), GPU reset, Fabric Manager activation and
deactivation, and the CDI spec write.

Every case: the module fails with a message naming the GPU (or partition / file), the
call and the error; nothing that was not to be changed is lost; the returned state is
what the host has; without the fault the same run converges and the next changes nothing.
"""

import errno
import os
import tempfile

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _libnvfm
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import make_host, run_module, tree_snapshot
from reliability_plans import ERRORS, H100_INITIAL, host_gpus, mig_uuids


def _mode(path, index):
    gpu = host_gpus(path)[index]
    return gpu["mig_current"], gpu["mig_pending"]


def _assert_reported(result, gpu, call, error):
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    for part in ("GPU %d" % gpu, call, error):
        assert part in result["msg"], "%r missing from: %s" % (part, result["msg"])


def _assert_gpus_reported_as_they_are(result, path):
    gpus = host_gpus(path)
    for reported in result["gpus"]:
        live = gpus[reported["index"]]
        assert (reported["mig"]["current"], reported["mig"]["pending"]) == (live["mig_current"], live["mig_pending"])


# ----------------------------------------------------------------------------- mig_mode


def _a100_host(directory):
    """DGX A100 (MIG mode changes need a reset): GPU 0 in MIG mode with a 7g.40gb."""
    path = make_host(directory, "dgx-a100", mig=False)
    assert not run_module("mig_mode", {"simulator": path, "state": "enabled", "gpus": ["0"]}).get("failed")
    assert not run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": ["7g.40gb"]}).get("failed")
    return path


ENABLE = {"state": "enabled", "gpus": ["1", "2"]}


@pytest.mark.parametrize("error", ERRORS["nvmlDeviceSetMigMode"])
def test_enabling_mig_with_a_failing_mode_change(host_dir, error):
    path = _a100_host(host_dir)
    bystander = mig_uuids(path)
    simulated_host.update_host(path, faults=[{"function": "nvmlDeviceSetMigMode", "error": error, "gpu": 2}])
    result = run_module("mig_mode", dict(ENABLE, simulator=path))
    _assert_reported(result, 2, "nvmlDeviceSetMigMode", error)
    assert result["call"] == "nvmlDeviceSetMigMode" and result["error"] == error and result["gpu"] == 2
    assert mig_uuids(path) == bystander
    if error != "NVML_ERROR_GPU_IS_LOST":
        _assert_gpus_reported_as_they_are(result, path)
    simulated_host.update_host(path, faults=[{"gpu": 2, "lost": False}])
    assert not run_module("mig_mode", dict(ENABLE, simulator=path)).get("failed")
    assert _mode(path, 1) == _mode(path, 2) == (True, True)
    assert run_module("mig_mode", dict(ENABLE, simulator=path))["changed"] is False


def test_a_reset_refused_while_a_service_holds_the_gpu(host_dir):
    """A service outside gpu_clients keeps GPU 2 busy (processes on the GPU are refused
    before the first change, see test_check_mode.py); its reset fails."""
    path = _a100_host(host_dir)
    simulated_host.update_host(path, units={"train": {"active": True, "gpus": [2]}})
    result = run_module("mig_mode", dict(ENABLE, simulator=path))
    _assert_reported(result, 2, "nvidia-smi --gpu-reset", "NVML_ERROR_IN_USE")
    assert _mode(path, 1) == (True, True)  # GPU 1 was reset before GPU 2 refused
    assert _mode(path, 2) == (False, True)  # requested, pending until a reset
    _assert_gpus_reported_as_they_are(result, path)
    simulated_host.update_host(path, units={"train": {"active": False}})
    assert not run_module("mig_mode", dict(ENABLE, simulator=path)).get("failed")
    assert _mode(path, 2) == (True, True)


def test_gpu_client_services_are_started_again_when_the_change_fails(host_dir):
    path = _a100_host(host_dir)
    simulated_host.update_host(
        path,
        units={"nvidia-dcgm": {"active": True}},
        faults=[{"function": "nvmlDeviceSetMigMode", "error": "NVML_ERROR_UNKNOWN", "gpu": 2}],
    )
    result = run_module("mig_mode", dict(ENABLE, simulator=path, gpu_clients=["nvidia-dcgm"]))
    _assert_reported(result, 2, "nvmlDeviceSetMigMode", "NVML_ERROR_UNKNOWN")
    assert simulated_host.unit_states(path)["nvidia-dcgm"] is True
    assert [a["action"] for a in result["actions"] if "unit" in a] == ["stop_unit", "start_unit"]
    assert not run_module("mig_mode", dict(ENABLE, simulator=path, gpu_clients=["nvidia-dcgm"])).get("failed")
    assert _mode(path, 2) == (True, True) and simulated_host.unit_states(path)["nvidia-dcgm"] is True


#: mig_mode state=disabled force=true on two H100s holding H100_INITIAL: per GPU it
#: destroys 5 compute and 4 GPU instances, then sets the mode.
DISABLE_CALLS = {"nvmlComputeInstanceDestroy": 5, "nvmlGpuInstanceDestroy": 4, "nvmlDeviceSetMigMode": 1}


def _disable_cases():
    cases = []
    for function, count in sorted(DISABLE_CALLS.items()):
        for position in range(1, count + 1):
            for error in ERRORS[function]:
                marks = [] if (position == 1 and error == "NVML_ERROR_UNKNOWN") else [pytest.mark.slow]
                cases.append(pytest.param(function, position, error, marks=marks,
                                          id="%s-%d-%s" % (function, position, error.replace("NVML_ERROR_", ""))))
    return cases


def _h100_with_instances(directory):
    path = make_host(directory, "dgx-h100")
    assert not run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": ["7g.80gb"]}).get("failed")
    assert not run_module("mig_instance", {"simulator": path, "gpus": ["1", "2"], "layout": H100_INITIAL}).get("failed")
    return path


DISABLE = {"state": "disabled", "force": True, "gpus": ["1", "2"]}


def test_the_disable_matrix_matches_what_the_run_really_calls(host_dir):
    path = _h100_with_instances(host_dir)
    before = dict(simulated_host.describe_host(path)["mutating_calls"])
    assert not run_module("mig_mode", dict(DISABLE, simulator=path)).get("failed")
    after = simulated_host.describe_host(path)["mutating_calls"]
    assert dict((name, (after[name] - before.get(name, 0)) // 2) for name in after if after[name] != before.get(name, 0)) == DISABLE_CALLS


@pytest.mark.parametrize("function,position,error", _disable_cases())
def test_disabling_mig_with_force_and_a_failing_call(host_dir, function, position, error):
    path = _h100_with_instances(host_dir)
    before = mig_uuids(path)
    simulated_host.update_host(path, faults=[{"function": function, "call": position, "error": error, "gpu": 2}])
    result = run_module("mig_mode", dict(DISABLE, simulator=path))
    _assert_reported(result, 2, function, error)
    after = mig_uuids(path)
    # Only the GPUs of the run lose instances, and the actions name exactly those lost.
    assert dict((key, value) for key, value in before.items() if key[0] == 0) == dict((k, v) for k, v in after.items() if k[0] == 0)
    destroyed = set((a["gpu"], a["gi_id"], a["ci_id"]) for a in result["actions"] if a["action"] == "destroy_compute_instance")
    assert destroyed == set(before) - set(after)
    if error != "NVML_ERROR_GPU_IS_LOST":
        _assert_gpus_reported_as_they_are(result, path)
    simulated_host.update_host(path, faults=[{"gpu": 2, "lost": False}])
    rerun = run_module("mig_mode", dict(DISABLE, simulator=path))
    assert rerun.get("failed") is not True, rerun.get("msg", rerun)
    gpus = host_gpus(path)
    assert [(gpus[i]["mig_current"], gpus[i]["gpu_instances"]) for i in (1, 2)] == [(False, []), (False, [])]
    assert run_module("mig_mode", dict(DISABLE, simulator=path))["changed"] is False


# ----------------------------------------------------------------------------- Fabric Manager

FM_ERRORS = {
    "fmDeactivateFabricPartition": ["FM_ST_GENERIC_ERROR", "FM_ST_TIMEOUT", "FM_ST_UNINITIALIZED", "FM_ST_CONNECTION_NOT_VALID"],
    "fmActivateFabricPartition": ["FM_ST_GENERIC_ERROR", "FM_ST_TIMEOUT", "FM_ST_IN_USE", "FM_ST_NVLINK_ERROR",
                                  "FM_ST_CONNECTION_NOT_VALID"],
}

#: Activating the 8-GPU partition 0 exclusively deactivates the active pairs 3 and 5 first.
EXCLUSIVE = {"partition_id": 0, "exclusive": True}
FM_POSITIONS = {"fmDeactivateFabricPartition": 2, "fmActivateFabricPartition": 1}


@pytest.fixture
def failing_fm(monkeypatch):
    """failing_fm(function, call, error): the Nth call of a Fabric Manager function from
    now answers ``error`` and changes nothing (the simulated FM has no fault list)."""

    def arm(function, call, error):
        original = getattr(fm_lib.SimulatedFmLibrary, function)
        seen = [0]

        def answer(self, *args):
            seen[0] += 1
            if seen[0] == call:
                return _libnvfm.FM_ST[error]
            return original(self, *args)

        monkeypatch.setattr(fm_lib.SimulatedFmLibrary, function, answer)

    return arm


def _fm_cases():
    cases = []
    for backend in ("libnvfm", "fmpm"):
        for function, positions in sorted(FM_POSITIONS.items()):
            for position in range(1, positions + 1):
                for error in FM_ERRORS[function]:
                    marks = [] if (position == 1 and error == "FM_ST_GENERIC_ERROR") else [pytest.mark.slow]
                    cases.append(pytest.param(backend, function, position, error, marks=marks,
                                              id="%s-%s-%d-%s" % (backend, function, position, error)))
    return cases


def _active(path):
    return simulated_host.describe_host(path)["fabric"]["active_partitions"]


@pytest.mark.parametrize("backend,function,position,error", _fm_cases())
def test_a_failing_fabric_manager_call(host_dir, failing_fm, backend, function, position, error):
    path = make_host(host_dir, "dgx-h100", mig=False, fabric_mode=1)
    for partition in (3, 5):
        assert run_module("fabric_partition", {"simulator": path, "partition_id": partition})["changed"]
    failing_fm(function, position, error)
    args = dict(EXCLUSIVE, simulator=path, fm_backend=backend)
    result = run_module("fabric_partition", args)
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    for part in (function, error):
        assert part in result["msg"], "%r missing from: %s" % (part, result["msg"])
    completed = result.get("completed", [])
    expected_active = sorted(set([3, 5]) - set(step["partition_id"] for step in completed if step["action"] == "deactivate"))
    assert _active(path) == expected_active
    assert result["changed"] is bool(completed), "a failure after completed steps must report changed"
    failing_fm(function, 0, error)  # disarmed: call 0 never comes
    rerun = run_module("fabric_partition", args)
    assert rerun.get("failed") is not True, rerun.get("msg", rerun)
    assert _active(path) == [0]
    assert run_module("fabric_partition", args)["changed"] is False


# ----------------------------------------------------------------------------- CDI write

#: (function of os / tempfile that fails, errno) for every step of the atomic write.
CDI_WRITE_FAULTS = [
    ("makedirs", errno.EACCES),
    ("makedirs", errno.EROFS),
    ("mkstemp", errno.ENOSPC),
    ("mkstemp", errno.EACCES),
    ("fsync", errno.EIO),
    ("fsync", errno.ENOSPC),
    ("chmod", errno.EPERM),
    ("rename", errno.EBUSY),
    ("rename", errno.EXDEV),
]


def _cdi_cases():
    """Every write fault, for a new spec and for replacing one; a missing directory (the
    only case where makedirs runs) only for a new spec."""
    cases = []
    for existing in (False, True):
        for function, code in CDI_WRITE_FAULTS:
            if existing and function == "makedirs":
                continue
            name = "%s-%s-%s" % (function, errno.errorcode[code], "replacing-a-spec" if existing else "new-spec")
            cases.append(pytest.param(existing, function, code, id=name))
    return cases


@pytest.mark.parametrize("existing,function,code", _cdi_cases())
def test_a_failing_cdi_spec_write(host_factory, tmp_path, monkeypatch, existing, function, code):
    simulator = host_factory("a30-x4")
    assert not run_module("mig_instance", {"simulator": simulator, "layout": ["2g.12gb", "1g.6gb", "1g.6gb"]}).get("failed")
    directory = tmp_path / "cdi"
    directory.mkdir()
    spec = directory / "missing" / "nvidia.yaml" if function == "makedirs" else directory / "nvidia.yaml"
    if existing:
        assert not run_module("cdi_spec", {"simulator": simulator, "path": str(spec), "gpus": ["0"]}).get("failed")
    before = tree_snapshot(tmp_path)
    module, name = (tempfile, "mkstemp") if function == "mkstemp" else (os, function)
    original = getattr(module, name)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(module, name, fail)
    result = run_module("cdi_spec", {"simulator": simulator, "path": str(spec)})
    monkeypatch.setattr(module, name, original)
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    assert str(spec) in result["msg"] and os.strerror(code) in result["msg"]
    assert tree_snapshot(tmp_path) == before, "a failed write changed files or left a temp file behind"
    rerun = run_module("cdi_spec", {"simulator": simulator, "path": str(spec)})
    assert rerun.get("failed") is not True and rerun["changed"], rerun
    assert len(rerun["devices"]) > 4
    assert run_module("cdi_spec", {"simulator": simulator, "path": str(spec)})["changed"] is False

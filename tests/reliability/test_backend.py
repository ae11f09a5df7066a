"""The simulator is used only when asked for, and every result says which backend ran.

A "real host with GPUs" is modelled by handing pynvml, where it loads libnvidia-ml.so.1,
a ``ctypes.CDLL`` whose functions answer from a simulated host's state file. The
collection sees a driver library like any other: nothing tells it the GPUs are simulated.
"""

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _host
from ansible_collections.gpuops.mig.plugins.module_utils._errors import MigError
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import nvml_lib
from reliability_support import HARDWARE_MODULES, run_module

REPO = Path(__file__).resolve().parents[2]


class DriverLibrary(ctypes.CDLL):
    """libnvidia-ml.so.1 of a host with GPUs (answers come from ``state_path``)."""

    def __init__(self, state_path):  # no dlopen: there is no driver on this machine
        self._answers = nvml_lib.SimulatedNvmlLibrary(state_path)
        self.calls = []

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        self.calls.append(name)
        return getattr(self._answers, name)

    def __getitem__(self, name):
        return self.__getattr__(name)


@pytest.fixture
def real_host(host_factory, tmp_path, monkeypatch):
    """A host whose (stand-in) NVIDIA driver has 4 A30 GPUs, one of them MIG enabled with a
    GPU instance; lock and journal go to tmp_path instead of /run and /var/lib."""
    state = host_factory("a30-x4", mig=False, name="driver-state.json")
    with Hardware(simulator=state) as hardware:
        hardware.set_mig_mode(0, True)
        hardware.reset_gpu(0)
        created = hardware.create_gpu_instance(0, hardware.gpu_instance_profiles(0)[0].profile_id)
        hardware.create_compute_instance(0, created.gi_id, 0)
    driver = DriverLibrary(state)
    loaded = []

    def load(name, *args, **kwargs):
        loaded.append(name)
        if name == "libnvidia-ml.so.1":
            return driver
        raise OSError("%s: cannot open shared object file" % name)

    monkeypatch.setattr(pynvml, "CDLL", load)
    monkeypatch.setattr(pynvml, "nvmlLib", None)
    monkeypatch.setitem(_host.REAL_PATHS, "lock", str(tmp_path / "run" / "gpuops-mig.lock"))
    monkeypatch.setitem(_host.REAL_PATHS, "journal", str(tmp_path / "var" / "journal.json"))
    pynvml._nvmlGetFunctionPointer_cache.clear()
    driver.loaded = loaded
    yield driver
    pynvml._nvmlGetFunctionPointer_cache.clear()


def test_without_simulator_the_driver_of_the_host_answers(real_host):
    result = run_module("gpu_info", {"fabric": False})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["backend"] == "nvml"
    assert real_host.loaded == ["libnvidia-ml.so.1"]
    assert [gpu["name"] for gpu in result["gpus"]] == ["NVIDIA A30"] * 4
    assert any(call.startswith("nvmlDeviceGetCount") for call in real_host.calls)


def test_changes_without_simulator_go_to_the_driver_of_the_host(real_host):
    result = run_module("mig_instance", {"gpus": ["0"], "state": "absent"})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["backend"] == "nvml" and result["changed"]
    assert "nvmlGpuInstanceDestroy" in real_host.calls


def test_a_simulator_option_never_reaches_the_driver_of_the_host(real_host, host_factory):
    simulated = host_factory("dgx-h100", mig=False)
    result = run_module("gpu_info", {"simulator": simulated, "fabric": False})
    assert result["backend"] == "simulator"
    assert [gpu["name"] for gpu in result["gpus"]] == ["NVIDIA H100 80GB HBM3"] * 8
    assert real_host.calls == [] and real_host.loaded == []


def test_the_environment_variable_selects_the_simulator(host_factory, monkeypatch):
    simulated = host_factory("gh200", mig=False)
    monkeypatch.setenv("GPUOPS_MIG_SIMULATOR", simulated)
    result = run_module("gpu_info", {})
    assert result["backend"] == "simulator" and len(result["gpus"]) == 1


def test_a_simulated_library_left_under_pynvml_is_not_taken_for_the_driver(real_host, host_factory):
    simulated = host_factory("dgx-h100", mig=False)
    nvml_lib.install(simulated)  # as if some other code had put it there and left
    try:
        result = run_module("gpu_info", {"fabric": False})
    finally:
        nvml_lib.uninstall()
    assert result["backend"] == "nvml"
    assert [gpu["name"] for gpu in result["gpus"]] == ["NVIDIA A30"] * 4


def test_real_nvml_is_refused_while_a_simulated_host_is_open_in_the_process(host_factory):
    simulated = host_factory("gh200", mig=False)
    with Hardware(simulator=simulated):
        with pytest.raises(MigError, match="simulated host .* is open"):
            Hardware()


def test_the_real_path_never_imports_the_simulator(tmp_path):
    """A module run without simulator on a host without driver loads no simulator code."""
    script = (
        "import io, contextlib, json, sys\n"
        "sys.path.insert(0, %r)\n"
        "from ansible.module_utils.testing import patch_module_args\n"
        "from ansible_collections.gpuops.mig.plugins.modules import gpu_info\n"
        "out = io.StringIO()\n"
        "with patch_module_args({}), contextlib.redirect_stdout(out):\n"
        "    try:\n        gpu_info.main()\n    except SystemExit:\n        pass\n"
        "loaded = sorted(m for m in sys.modules if '_simulator' in m)\n"
        "print(json.dumps({'result': json.loads(out.getvalue()), 'simulator_modules': loaded}))\n"
    ) % str(REPO / "build" / "dev")
    env = dict(os.environ)
    env.pop("GPUOPS_MIG_SIMULATOR", None)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=str(tmp_path), check=False)
    report = json.loads(completed.stdout)
    assert report["simulator_modules"] == []
    assert report["result"]["failed"] and report["result"]["error"] == "NVML_ERROR_LIBRARY_NOT_FOUND"


def _module_args(name, simulator, tmp_path):
    return {
        "gpu_info": {},
        "mig_mode": {"state": "enabled"},
        "mig_instance": {"layout": ["1g.6gb"]},
        "cdi_spec": {"path": str(tmp_path / "cdi.yaml")},
        "fabric_partition": {"state": "listed"},
    }[name]


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_every_successful_result_names_the_backend(host_factory, tmp_path, name):
    simulator = host_factory("a30-x4")
    if name == "cdi_spec":
        run_module("mig_instance", {"simulator": simulator, "layout": ["1g.6gb"]})
    result = run_module(name, dict(_module_args(name, simulator, tmp_path), simulator=simulator))
    if name == "fabric_partition":
        assert result.get("failed") and "fmConnect" in result["msg"]  # a30-x4 has no NVSwitch: still says the backend
    else:
        assert result.get("failed") is not True, result.get("msg", result)
    assert result["backend"] == "simulator"


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_every_failed_result_names_the_backend(host_factory, tmp_path, name):
    simulator = host_factory("a30-x4")
    simulated_host.update_host(simulator, faults=[{"gpu": 3, "lost": True}])
    result = run_module(name, dict(_module_args(name, simulator, tmp_path), simulator=simulator))
    assert result.get("failed") and result["backend"] == "simulator", result


@pytest.mark.parametrize("name", HARDWARE_MODULES)
def test_a_failure_to_start_nvml_still_names_the_backend(tmp_path, name):
    """No driver on this machine: nvmlInit fails; the result says it was real NVML."""
    result = run_module(name, _module_args(name, None, tmp_path))
    assert result.get("failed") and result["error"] == "NVML_ERROR_LIBRARY_NOT_FOUND"
    assert result.get("backend") == "nvml", result

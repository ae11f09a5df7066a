"""The real host's commands (GPU reset, systemd units) run as argument lists and their
failures surface as HardwareError. NVML itself is absent here, so its init/shutdown are
replaced by recorders; the commands are answered by a fake subprocess.run."""

import subprocess

import pynvml
import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _host, _nvml
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError


@pytest.fixture
def real_host(monkeypatch):
    """(Hardware on the real path, list of events: NVML init/shutdown and commands run)."""
    events = []
    answers = {}
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: events.append("nvmlInit"))
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: events.append("nvmlShutdown"))

    def run(argv, **options):
        assert isinstance(argv, list) and not options.get("shell")
        events.append(argv)
        answer = answers.get(argv[0], (0, "", ""))
        if isinstance(answer, Exception):
            raise answer
        return subprocess.CompletedProcess(argv, answer[0], answer[1], answer[2])

    monkeypatch.setattr(_host.subprocess, "run", run)
    hardware = _nvml.Hardware()
    del events[:]
    return hardware, events, answers


def test_reset_runs_nvidia_smi_with_nvml_shut_down(real_host):
    hardware, events, _answers = real_host
    hardware.reset_gpu(3)
    assert events == ["nvmlShutdown", ["nvidia-smi", "--gpu-reset", "-i", "3"], "nvmlInit"]
    assert hardware.mutating_calls == 1
    assert (hardware.backend, hardware.dev_root, hardware.mig_minors_path) == (
        "nvml",
        "/",
        "/proc/driver/nvidia-caps/mig-minors",
    )


def test_reset_failure_maps_the_exit_status_to_an_nvml_error(real_host):
    hardware, events, answers = real_host
    answers["nvidia-smi"] = (4, "", "Insufficient Permissions")
    with pytest.raises(HardwareError) as caught:
        hardware.reset_gpu(0)
    error = caught.value
    assert (error.call, error.error, error.gpu) == ("nvidia-smi --gpu-reset", "NVML_ERROR_NO_PERMISSION", 0)
    assert "become: true" in str(error) and "Insufficient Permissions" in str(error)
    assert events[-1] == "nvmlInit"  # NVML is back for the rest of the run


def test_missing_nvidia_smi_is_a_hardware_error(real_host):
    hardware, _events, answers = real_host
    answers["nvidia-smi"] = OSError(2, "No such file or directory")
    with pytest.raises(HardwareError) as caught:
        hardware.reset_gpu(1)
    assert "No such file or directory" in str(caught.value)


def test_units_use_systemctl_argument_lists(real_host):
    hardware, events, answers = real_host
    answers["systemctl"] = (3, "active\ninactive\n", "")
    assert hardware.host.active_units(["nvidia-dcgm", "nvidia-persistenced"]) == ["nvidia-dcgm"]
    answers["systemctl"] = (0, "", "")
    hardware.host.stop_units(["nvidia-dcgm", "dcgm-exporter"])
    hardware.host.start_units([])
    assert events == [
        ["systemctl", "is-active", "nvidia-dcgm", "nvidia-persistenced"],
        ["systemctl", "stop", "nvidia-dcgm", "dcgm-exporter"],
    ]


def test_failing_systemctl_names_the_verb(real_host):
    hardware, _events, answers = real_host
    answers["systemctl"] = (5, "", "Unit nvidia-dcgm.service not loaded.")
    with pytest.raises(HardwareError) as caught:
        hardware.host.start_units(["nvidia-dcgm"])
    assert caught.value.call == "systemctl start"
    assert "not loaded" in str(caught.value)

"""Without a simulator path Hardware uses the real driver, never a simulator.

This machine has nvidia-ml-py but no NVIDIA driver, so the real path must end in a clear
"library not found" error, whatever simulator is around.
"""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _nvml
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError, InputError, MigError
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware, NvmlBindingsMissing
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import nvml_lib


def _real_path_error():
    with pytest.raises(HardwareError) as caught:
        Hardware()
    return caught.value


def test_no_path_means_real_nvml_with_a_clear_error_here():
    error = _real_path_error()
    assert (error.call, error.error) == ("nvmlInit", "NVML_ERROR_LIBRARY_NOT_FOUND")
    assert "NVIDIA driver is not installed" in str(error)


def test_no_path_ignores_the_environment_and_a_simulator_left_under_pynvml(make_host, monkeypatch):
    path = make_host("dgx-h100")
    monkeypatch.setenv("GPUOPS_MIG_SIMULATOR", path)
    nvml_lib.install(path)
    try:
        assert _real_path_error().error == "NVML_ERROR_LIBRARY_NOT_FOUND"
    finally:
        nvml_lib.uninstall()


def test_real_nvml_is_refused_while_a_simulated_host_is_open(make_host, open_hardware):
    open_hardware(make_host("dgx-h100"))
    with pytest.raises(MigError) as caught:
        Hardware()
    assert "simulated host" in str(caught.value)


def test_one_simulated_host_per_process(make_host, open_hardware):
    first = open_hardware(make_host("dgx-h100"))
    same = open_hardware(first.simulator)
    assert len(same.devices()) == 8
    with pytest.raises(InputError) as caught:
        Hardware(simulator=make_host("a30-x4"))
    assert caught.value.option == "simulator"


def test_a_missing_state_file_names_the_simulator_option(tmp_path):
    with pytest.raises(InputError) as caught:
        Hardware(simulator=str(tmp_path / "nothing.json"))
    assert caught.value.option == "simulator"
    assert "does not exist" in str(caught.value)


def test_missing_bindings_are_a_dedicated_error(monkeypatch):
    monkeypatch.setattr(_nvml, "pynvml", None)
    with pytest.raises(NvmlBindingsMissing):
        Hardware()


def test_nvidia_smi_exit_statuses_map_to_nvml_error_names():
    # nvidia-smi(1) RETURN VALUE: 4 no permission, 15 GPU fell off the bus, 255 other error.
    assert _nvml.nvidia_smi_error_name(4) == "NVML_ERROR_NO_PERMISSION"
    assert _nvml.nvidia_smi_error_name(15) == "NVML_ERROR_GPU_IS_LOST"
    assert _nvml.nvidia_smi_error_name(255) == "NVML_ERROR_UNKNOWN"

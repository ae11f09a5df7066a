"""A simulated host with host_files=real: only GPUs and driver are simulated; its units are
systemd's, and its Fabric Manager runs only while the nvidia-fabricmanager service (the test
stand-in, tests/hosts/units/fabricmanager_standin.py) marks it running."""

import ctypes
import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils import _libnvfm as fm
from ansible_collections.gpuops.mig.plugins.module_utils._host import Host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.host import manage_simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib, host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import read_state

from playbook_runner import DEV_ROOT, REPO

STANDIN = REPO / "tests" / "hosts" / "units" / "fabricmanager_standin.py"


def test_a_real_files_host_has_no_units_of_its_own(tmp_path):
    path = str(tmp_path / "node.json")
    host.create_host(path, "dgx-h100", host_files="real")
    summary = host.describe_host(path)
    assert summary["host_files"] == "real" and summary["units"] == {}
    assert Host(simulator=path).path("cdi_spec") == "/var/run/cdi/nvidia.yaml"
    with pytest.raises(InputError) as raised:
        host.update_host(path, units={"nvidia-dcgm": {"active": True}})
    assert raised.value.option == "units" and "systemctl" in str(raised.value)


def test_the_default_keeps_units_and_files_in_the_simulated_host(tmp_path):
    path = str(tmp_path / "node.json")
    host.create_host(path, "dgx-h100")
    summary = host.describe_host(path)
    assert summary["host_files"] == "simulated" and "nvidia-dcgm" in summary["units"]
    assert summary["fabric"]["fm_running"] is True
    assert Host(simulator=path).path("cdi_spec").startswith(path + ".root/")


def test_host_files_cannot_change_and_bad_values_are_refused(tmp_path):
    path = str(tmp_path / "node.json")
    with pytest.raises(InputError) as raised:
        host.create_host(path, "gh200", host_files="container")
    assert raised.value.option == "host_files" and "real" in str(raised.value)
    assert not os.path.exists(path)
    manage_simulated_host(path, preset="gh200", host_files="real")
    assert not manage_simulated_host(path, preset="gh200", host_files="real")["changed"]
    with pytest.raises(InputError) as raised:
        manage_simulated_host(path, host_files="simulated")
    assert raised.value.option == "host_files" and "remove the host first" in str(raised.value)
    assert read_state(path)["host_files"] == "real"


def _fabric(path):
    return read_state(path)["fabric"]


def test_the_fabric_manager_stand_in_serves_the_simulated_fabric_while_it_runs(tmp_path):
    path = str(tmp_path / "node.json")
    host.create_host(path, "dgx-h100", host_files="real")
    assert _fabric(path)["fm_running"] is False
    library = fm_lib.SimulatedFmLibrary(path)
    assert library.fmLibInit() == 0
    config = tmp_path / "fabricmanager.cfg"
    config.write_text("LOG_LEVEL=4\nFABRIC_MODE=1 \nFM_CMD_PORT_NUMBER=6666\n")
    env = dict(os.environ, PYTHONPATH=str(DEV_ROOT))
    service = subprocess.Popen([sys.executable, str(STANDIN), path, str(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # the stand-in says so once the simulated Fabric Manager runs
        assert "running in FABRIC_MODE=1" in service.stdout.readline()
        assert _fabric(path)["fm_running"] is True and _fabric(path)["mode"] == 1
        # started fresh, like a restart without --restart: no partition is active
        assert not any(partition["active"] for partition in _fabric(path)["partitions"])
    finally:
        service.send_signal(signal.SIGTERM)
        output, _errors = service.communicate(timeout=10)
    assert service.returncode == 0, output
    assert "stopped" in output
    assert _fabric(path)["fm_running"] is False
    assert _connect(library) == "FM_ST_CONNECTION_NOT_VALID"


def _connect(library):
    """What libnvfm's fmConnect answers, by name."""
    params = fm.fmConnectParams_v2()
    params.version = fm.fmConnectParams_version2
    handle = ctypes.c_void_p()
    return fm.FM_RETURN_NAMES.get(library.fmConnect(ctypes.byref(params), ctypes.byref(handle)), "FM_ST_SUCCESS")

"""gpu_info through ansible-playbook on simulated hosts; the playbooks assert the results."""

import os
import sys
import venv
from pathlib import Path

from ansible_collections.gpuops.mig.plugins.module_utils._model import Placement
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib, host

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def _passed(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_inventory_of_every_kind_of_board(tmp_path, playbook_runner):
    _passed(playbook_runner(PLAYBOOKS / "gpu_info_presets.yml", {"work_dir": str(tmp_path)}))


def test_deployment_as_the_gpus_report_it(tmp_path, playbook_runner):
    paths = dict((name, str(tmp_path / ("%s.json" % name))) for name in ("vm_path", "hgx_path", "hgx_stopped_path"))
    host.create_host(paths["vm_path"], "h200-passthrough-vm")
    host.create_host(paths["hgx_path"], "hgx-h200")
    host.create_host(paths["hgx_stopped_path"], "hgx-h200")
    fm_lib.set_fabric_manager_running(paths["hgx_stopped_path"], False)
    _passed(playbook_runner(PLAYBOOKS / "gpu_info_deployment.yml", paths))


def _mig_layout(path):
    """GPUs 0 and 1: seven 1g.10gb each; GPU 2: a 3g.40gb with one 1c and one 2c compute
    instance plus a 1g.20gb without compute instance; GPU 3: MIG on, empty; a process on GPU 2."""
    with Hardware(simulator=path) as hardware:
        for index in range(4):
            hardware.set_mig_mode(index, True)
        for index in (0, 1):
            for dummy in range(7):
                gpu_instance = hardware.create_gpu_instance(index, 19)
                hardware.create_compute_instance(index, gpu_instance.gi_id, 0)
        three = hardware.create_gpu_instance(2, 9, Placement(0, 4))
        hardware.create_compute_instance(2, three.gi_id, 0, Placement(2, 1))
        two_slices = hardware.create_compute_instance(2, three.gi_id, 1, Placement(0, 2))
        hardware.create_gpu_instance(2, 15, Placement(6, 2))
    host.update_host(path, processes=[{"pid": 4242, "gpu": 2, "gi_id": three.gi_id, "ci_id": two_slices.ci_id}])
    return three.gi_id


def test_inventory_of_a_mig_layout_and_its_mig_parted_config(tmp_path, playbook_runner):
    path = str(tmp_path / "dgx-h100.json")
    host.create_host(path, "dgx-h100")
    gi_id = _mig_layout(path)
    _passed(playbook_runner(PLAYBOOKS / "gpu_info_layout.yml", {"simulator_path": path, "three_gi_id": gi_id}))


def test_module_defaults_and_environment_select_the_simulator(tmp_path, playbook_runner):
    path = str(tmp_path / "a30.json")
    host.create_host(path, "a30-x4")
    result = playbook_runner(PLAYBOOKS / "gpu_info_defaults.yml", {"simulator_path": path}, env={"GPUOPS_MIG_SIMULATOR": path})
    _passed(result)


def test_bad_input_and_the_real_path_fail_clearly(tmp_path, playbook_runner):
    path = str(tmp_path / "h100.json")
    host.create_host(path, "dgx-h100")
    _passed(playbook_runner(PLAYBOOKS / "gpu_info_failures.yml", {"simulator_path": path}))


def test_missing_nvidia_ml_py_is_reported_as_a_missing_requirement(tmp_path, playbook_runner):
    bare = tmp_path / "bare"
    venv.create(str(bare), with_pip=False)
    python = bare / "bin" / "python"
    assert os.path.exists(str(python)), sys.executable
    path = str(tmp_path / "h100.json")
    host.create_host(path, "dgx-h100")
    result = playbook_runner(
        PLAYBOOKS / "gpu_info_missing_bindings.yml",
        {"simulator_path": path},
        env={"ANSIBLE_PYTHON_INTERPRETER": str(python)},
    )
    _passed(result)

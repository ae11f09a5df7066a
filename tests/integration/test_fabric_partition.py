"""gpuops.mig.fabric_partition through ansible-playbook against simulated NVSwitch hosts.

Each playbook asserts what the module returns (and what the simulated host stores); the
tests here prepare the hosts (MIG mode, Fabric Manager restarts) the way an operator
would, through the NVML path and the simulated FM service."""

from pathlib import Path

from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import fm_lib
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import read_state

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def make_host(tmp_path, preset, fabric_mode):
    path = str(tmp_path / ("%s-mode%d.json" % (preset, fabric_mode)))
    simulated_host.create_host(path, preset, fabric_mode=fabric_mode)
    return path


def enable_mig(path, index):
    with Hardware(simulator=path) as hardware:
        hardware.set_mig_mode(index, True)
        if not hardware.device(index).mig_current:  # Ampere applies it at the next reset
            hardware.reset_gpu(index)
        assert hardware.device(index).mig_current


def active_partitions(path):
    return [p["id"] for p in read_state(path)["fabric"]["partitions"] if p["active"]]


def run(playbook_runner, name, **extra_vars):
    result = playbook_runner(PLAYBOOKS / name, extra_vars=extra_vars)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def test_shared_nvswitch_dgx_h100_with_mig(tmp_path, playbook_runner):
    simulator = make_host(tmp_path, "dgx-h100", 1)
    enable_mig(simulator, 0)  # Hopper: MIG GPUs may be part of multi-GPU partitions
    run(playbook_runner, "fabric_dgx_h100.yml", simulator=simulator)
    assert active_partitions(simulator) == []
    calls = read_state(simulator)["mutating_calls"]
    # activate 3, deactivate 3 + activate 1 (exclusive), deactivate 1: check-mode runs and
    # refused requests made no Fabric Manager call.
    assert calls.get("fmActivateFabricPartition") == 2
    assert calls.get("fmDeactivateFabricPartition") == 2


def test_ampere_refuses_mig_gpus_in_multi_gpu_partitions(tmp_path, playbook_runner):
    simulator = make_host(tmp_path, "dgx-a100", 1)
    enable_mig(simulator, 1)
    run(playbook_runner, "fabric_dgx_a100.yml", simulator=simulator)
    assert active_partitions(simulator) == [12, 20]


def test_dgx_b200_through_both_backends_then_restore_after_fm_restart(tmp_path, playbook_runner):
    simulator = make_host(tmp_path, "dgx-b200", 1)
    run(playbook_runner, "fabric_dgx_b200.yml", simulator=simulator)
    assert active_partitions(simulator) == [4, 7]
    fm_lib.restart_fabric_manager(simulator, resiliency=True)
    run(playbook_runner, "fabric_restore.yml", simulator=simulator, restore_ids=[7, 4])
    assert active_partitions(simulator) == [4, 7]
    assert read_state(simulator)["fabric"]["restart_pending"] is False


def test_vgpu_mode_with_vfs_and_bare_metal_mode(tmp_path, playbook_runner):
    simulator = make_host(tmp_path, "hgx-h200", 2)
    bare_metal = make_host(tmp_path, "dgx-h100", 0)
    run(playbook_runner, "fabric_vgpu_and_bare_metal.yml", simulator=simulator, bare_metal_simulator=bare_metal)
    assert active_partitions(simulator) == [3]
    assert read_state(bare_metal)["mutating_calls"] == {}


def test_fabric_mode_converges_the_whole_fabric_manager(tmp_path, playbook_runner):
    run(playbook_runner, "fabric_manager_pass.yml", work_dir=str(tmp_path))
    host = read_state(str(tmp_path / "h100.json"))
    assert host["fabric"]["mode"] == 1
    assert active_partitions(str(tmp_path / "h100.json")) == []
    assert not (tmp_path / "a30.json.root" / "usr/share/nvidia/nvswitch").exists()


def test_a_stopped_fabric_manager_is_started_and_its_partitions_activated_again(tmp_path, playbook_runner):
    path = make_host(tmp_path, "dgx-h100", 1)
    run(playbook_runner, "fabric_manager_stopped.yml", host=path, expected=["write_config", "activate", "activate"])
    activated = active_partitions(path)
    assert len(activated) == 2
    fm_lib.set_fabric_manager_running(path, False)  # as `systemctl stop nvidia-fabricmanager`
    run(playbook_runner, "fabric_manager_stopped.yml", host=path, expected=["start", "activate", "activate"])
    assert read_state(path)["fabric"]["fm_running"] is True
    assert active_partitions(path) == activated

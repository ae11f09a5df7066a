"""gpuops.mig.mig_instance through ansible-playbook on simulated hosts: every desired-state
form from check mode to idempotence, disruption-minimal transitions, mig-parted configs,
feature gates, lock contention and an interrupted run completed by the next."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._host import host_files
from ansible_collections.gpuops.mig.plugins.module_utils._lock import host_lock
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from playbook_runner import ansible_env  # noqa: E402  (the environment run_playbook uses)

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"

ALL_BALANCED = """\
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  all-balanced:
    # A100-40GB
    - device-filter: ["0x20B010DE", "0x20B110DE", "0x20F110DE", "0x20F610DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.5gb": 2
        "2g.10gb": 1
        "3g.20gb": 1
    # H100-80GB
    - device-filter: ["0x233010DE", "0x233110DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.10gb": 2
        "2g.20gb": 1
        "3g.40gb": 1
    # A30
    - device-filter: "0x20B710DE"
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.6gb": 2
        "2g.12gb": 1
    # RTX PRO 6000 Blackwell Server Edition
    - device-filter: ["0x2BB510DE"]
      devices: all
      mig-enabled: true
      mig-devices:
        "1g.24gb": 2
        "2g.48gb": 1
"""

SPLIT = """\
version: v1
mig-configs:
  split:
    - devices: [0, 1]
      mig-enabled: true
      mig-devices:
        "1g.10gb": 7
    - devices: [2, 3]
      mig-enabled: false
"""


def _run(playbook_runner, playbook, **extra_vars):
    completed = playbook_runner(PLAYBOOKS / playbook, extra_vars=extra_vars)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _config(tmp_path, text):
    path = tmp_path / "mig-parted.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "preset, instance, devices",
    [
        ("dgx-a100", {"layout": ["3g.20gb", "2g.10gb", {"profile": "1g.5gb", "count": 2}]}, 8 * 4),
        ("dgx-h100", {"requirements": [{"memory_gb": 40, "compute_slices": 3}, {"memory_gb": 10, "count": 3}]}, 8 * 4),
        ("a30-x4", {"mig_parted_config": {"file": "ALL_BALANCED", "name": "all-balanced"}}, 4 * 3),
        (
            "rtx-pro-6000-x4",
            {
                "layout": [
                    {"profile": "2g.48gb", "placement": 6, "compute_instances": ["1c", "1c"]},
                    "1g.24gb+gfx",
                    {"profile": "1g.24gb-me", "placement": "3:3"},
                ]
            },
            4 * 4,
        ),
    ],
)
def test_each_form_from_check_mode_to_idempotence(tmp_path, playbook_runner, preset, instance, devices):
    if "mig_parted_config" in instance:
        instance["mig_parted_config"]["file"] = _config(tmp_path, ALL_BALANCED)
    _run(playbook_runner, "mig_instance_cycle.yml", simulator=str(tmp_path / "host.json"), preset=preset, instance=instance, devices=devices)


def test_disruption_minimal_keeps_instances_in_use(tmp_path, playbook_runner):
    _run(playbook_runner, "mig_instance_transitions.yml", simulator=str(tmp_path / "host.json"))


def test_a_mig_parted_config_naming_gpus_by_index(tmp_path, playbook_runner):
    _run(playbook_runner, "mig_instance_mig_parted.yml", simulator=str(tmp_path / "host.json"), config_file=_config(tmp_path, SPLIT))


def test_feature_gates_auto_enable_mig_and_fabric_aware_placement(tmp_path, playbook_runner):
    _run(playbook_runner, "mig_instance_gates.yml", simulator=str(tmp_path / "host.json"))


def test_feature_gate_mig_in_fabric_partitions(tmp_path, playbook_runner):
    _run(playbook_runner, "mig_instance_fabric.yml", simulator=str(tmp_path / "host.json"))


@pytest.fixture
def enabled_host(tmp_path):
    """A simulated A30 host with MIG enabled on every GPU."""
    simulator = str(tmp_path / "a30.json")
    simulated_host.create_host(simulator, "a30-x4")
    with Hardware(simulator=simulator) as hardware:
        for device in hardware.devices():
            hardware.set_mig_mode(device.index, True)
            hardware.reset_gpu(device.index)
    return simulator


def _run_once(playbook_runner, tmp_path, simulator, **options):
    result_file = tmp_path / "result.json"
    if result_file.exists():
        result_file.unlink()
    extra = {"simulator": simulator, "options": options, "result_file": str(result_file)}
    completed = playbook_runner(PLAYBOOKS / "mig_instance_run.yml", extra_vars=extra)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(result_file.read_text())


def test_a_run_waits_for_the_host_lock_and_names_its_holder(tmp_path, playbook_runner, enabled_host):
    lock_path = host_files(enabled_host)[0]
    with host_lock(lock_path, 5, "gpuops.mig.mig_mode"):
        refused = _run_once(playbook_runner, tmp_path, enabled_host, layout=["4g.24gb"], lock_timeout=1)
    assert refused["failed"] is True
    assert "pid %d (gpuops.mig.mig_mode)" % os.getpid() in refused["msg"]
    assert refused["lock_holder"]["pid"] == os.getpid()
    calls = simulated_host.describe_host(enabled_host)["mutating_calls"]
    assert sorted(calls) == ["nvmlDeviceSetMigMode"]  # from the fixture: the locked run made none
    assert _run_once(playbook_runner, tmp_path, enabled_host, layout=["4g.24gb"])["changed"] is True


def test_an_interrupted_run_is_completed_by_the_next(tmp_path, playbook_runner, enabled_host):
    layout = ["2g.12gb", "1g.6gb", "1g.6gb"]
    simulated_host.update_host(enabled_host, latency={"nvmlDeviceCreateGpuInstanceWithPlacement": 0.2})
    journal = host_files(enabled_host)[1]
    extra = {"simulator": enabled_host, "options": {"layout": layout}, "result_file": str(tmp_path / "killed.json")}
    binary = Path(sys.executable).parent / "ansible-playbook"
    run = subprocess.Popen(
        [str(binary), str(PLAYBOOKS / "mig_instance_run.yml"), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra)],
        env=ansible_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and run.poll() is None:
            try:
                with open(journal) as handle:
                    done = [len(gpu["done"]) for gpu in json.load(handle)["gpus"].values()]
            except (IOError, ValueError):
                done = []
            if done and min(done) >= 2:
                break
            time.sleep(0.02)
        assert run.poll() is None, "the run ended before it could be interrupted"
        with open(host_files(enabled_host)[0]) as handle:
            module_pid = json.load(handle)["pid"]  # the lock file names the module process
        os.kill(module_pid, signal.SIGKILL)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert os.path.exists(journal)
    simulated_host.update_host(enabled_host, latency={})
    completed = _run_once(playbook_runner, tmp_path, enabled_host, layout=layout)
    assert completed["changed"] is True and completed["recovered"] is True, completed
    assert sorted(device["profile"] for device in completed["mig_devices"]) == sorted(layout * 4)
    assert not os.path.exists(journal)
    again = _run_once(playbook_runner, tmp_path, enabled_host, layout=layout)
    assert again["changed"] is False and again["recovered"] is False

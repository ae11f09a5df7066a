"""What the GPUs say about their machine decides the reset policy: a passthrough guest
(simulated A100 in a VM whose hypervisor refuses resets) reports reboot_required with the
default policy and is never reset; reset=always tries, and the refusal is reported."""

from pathlib import Path

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

PLAYBOOK = Path(__file__).parent / "playbooks" / "deployment_mode_reset.yml"


def test_passthrough_guest_reset_policy(tmp_path, playbook_runner):
    state = tmp_path / "guest.json"
    result = playbook_runner(PLAYBOOK, {"state_file": str(state)})
    assert result.returncode == 0, result.stdout[-5000:]
    gpu = host.describe_host(str(state))["gpus"][0]
    assert gpu["mig_pending"] and not gpu["mig_current"]

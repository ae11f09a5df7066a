"""gpuops.mig.mig_mode through ansible-playbook on simulated hosts: pending changes, resets
only where pending, GPU client services, disabling with instances, and a passthrough VM
that needs a reboot."""

from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def _run(playbook_runner, playbook, **extra_vars):
    completed = playbook_runner(PLAYBOOKS / playbook, extra_vars=extra_vars)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


# One architecture that applies MIG mode at a reset (Ampere) and one that applies it at
# once (Blackwell); the other presets enable MIG in test_mig_instance.py, and the A30
# passthrough VM below.
@pytest.mark.parametrize("preset, needs_reset, profile", [("dgx-a100", True, "1g.5gb"), ("rtx-pro-6000-x4", False, "1g.24gb")])
def test_enable_pending_reset_and_disable(tmp_path, playbook_runner, preset, needs_reset, profile):
    completed = _run(
        playbook_runner,
        "mig_mode_cycle.yml",
        simulator=str(tmp_path / "host.json"),
        preset=preset,
        needs_reset=needs_reset,
        profile=profile,
    )
    assert "failed=0" in completed.stdout


def test_a_passthrough_vm_returns_reboot_required(tmp_path, playbook_runner):
    _run(playbook_runner, "mig_mode_passthrough.yml", simulator=str(tmp_path / "vm.json"), preset="a30-x4")

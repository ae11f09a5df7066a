"""gpuops.mig.mig_mode through ansible-playbook on simulated hosts of every MIG
architecture: pending changes, resets only where pending, GPU client services, disabling
with instances, and a passthrough VM that needs a reboot."""

from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def _run(playbook_runner, playbook, **extra_vars):
    completed = playbook_runner(PLAYBOOKS / playbook, extra_vars=extra_vars)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.mark.parametrize(
    "preset, needs_reset, profile",
    [
        ("dgx-a100", True, "1g.5gb"),
        ("dgx-h100", False, "1g.10gb"),
        ("a30-x4", True, "1g.6gb"),
        ("rtx-pro-6000-x4", False, "1g.24gb"),
    ],
)
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

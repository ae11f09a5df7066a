"""The representative subset of the battery through ansible-playbook: bad input, a fault
with its rollback and re-run, a lost GPU and the real-driver path, as a user runs them.
(The concurrency test in test_concurrency.py also goes through ansible-playbook.)"""

from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def test_the_battery_subset_through_ansible_playbook(tmp_path, playbook_runner):
    result = playbook_runner(PLAYBOOKS / "reliability_subset.yml", {"work_dir": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout

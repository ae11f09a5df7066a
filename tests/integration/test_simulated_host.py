"""simulated_host through ansible-playbook; the playbooks assert the results."""

from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"


def _passed(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_create_change_and_remove_idempotently_with_check_and_diff_mode(tmp_path, playbook_runner):
    _passed(playbook_runner(PLAYBOOKS / "simulated_host_lifecycle.yml", {"work_dir": str(tmp_path)}))


def test_bad_input_fails_and_changes_nothing(tmp_path, playbook_runner):
    _passed(playbook_runner(PLAYBOOKS / "simulated_host_failures.yml", {"work_dir": str(tmp_path)}))


def test_whole_play_in_check_mode_creates_nothing(tmp_path, playbook_runner):
    result = _passed(playbook_runner(PLAYBOOKS / "simulated_host_check_mode.yml", {"work_dir": str(tmp_path)}, check=True, diff=True))
    assert "changed=1" in result.stdout
    assert list(tmp_path.iterdir()) == []

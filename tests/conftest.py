"""Shared test plumbing: import the collection from this checkout, run playbooks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEV_ROOT = REPO / "build" / "dev"


def _dev_tree():
    """A collections root whose gpuops/mig is this checkout, so tests see live sources."""
    link = DEV_ROOT / "ansible_collections" / "gpuops" / "mig"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(REPO, target_is_directory=True)
        except FileExistsError:
            pass
    for package in (DEV_ROOT / "ansible_collections", link.parent):
        init = package / "__init__.py"
        if not init.exists():
            init.touch()
    return DEV_ROOT


sys.path.insert(0, str(_dev_tree()))


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(DEV_ROOT),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    env.pop("GPUOPS_MIG_SIMULATOR", None)
    env.update({key: str(value) for key, value in extra.items()})
    return env


def run_playbook(playbook, extra_vars=None, check=False, diff=False, inventory=None, env=None, timeout=600):
    """Run ansible-playbook from the venv next to this interpreter; return CompletedProcess."""
    binary = Path(sys.executable).parent / "ansible-playbook"
    cmd = [str(binary), str(playbook)]
    cmd += ["-i", str(inventory) if inventory else "localhost,", "-c", "local"]
    if extra_vars:
        import json

        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    return subprocess.run(cmd, env=ansible_env(**(env or {})), capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def playbook_runner():
    return run_playbook

"""Running ansible-playbook against this checkout (a module of its own, not conftest, so
test files in any directory import it by a name no other test directory uses)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV_ROOT = REPO / "build" / "dev"


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
        cmd += ["-e", json.dumps(extra_vars)]
    if check:
        cmd.append("--check")
    if diff:
        cmd.append("--diff")
    return subprocess.run(cmd, env=ansible_env(**(env or {})), capture_output=True, text=True, timeout=timeout, check=False)

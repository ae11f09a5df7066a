"""Shared test plumbing: import the collection from this checkout, run playbooks."""

import sys

import pytest

from playbook_runner import DEV_ROOT, REPO, run_playbook


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


@pytest.fixture
def playbook_runner():
    return run_playbook

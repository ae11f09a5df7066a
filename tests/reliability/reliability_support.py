"""Plumbing of the reliability battery.

Modules run in-process through their real ``main()`` (argument spec, ``run_module``,
``exit_json``/``fail_json``), with ``ansible.module_utils.testing.patch_module_args``
standing in for the controller. That is the module code path minus the ansible-playbook
transport, which a representative subset covers separately (test_playbooks.py).
"""

import contextlib
import hashlib
import importlib
import io
import json
import os
import traceback

from ansible.module_utils.testing import patch_module_args

from ansible_collections.gpuops.mig.plugins.module_utils import _host
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

MODULE_PACKAGE = "ansible_collections.gpuops.mig.plugins.modules."

#: Modules that talk to GPUs (take ``simulator`` and report ``backend``).
HARDWARE_MODULES = ("gpu_info", "mig_mode", "mig_instance", "cdi_spec", "fabric_partition")


def run_module(name, args, check_mode=False, diff=False):
    """Run module ``name`` with ``args`` in this process; return its result dict.

    An exception that escapes the module (what ansible-playbook shows as MODULE FAILURE
    with a traceback) comes back as ``{"failed": True, "traceback": text}``.
    """
    module = importlib.import_module(MODULE_PACKAGE + name)
    params = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    output = io.StringIO()
    with patch_module_args(params), contextlib.redirect_stdout(output):
        try:
            module.main()
        except SystemExit:
            pass
        except Exception:  # noqa: BLE001 - the point is to catch what a module lets escape
            return {"failed": True, "msg": "unhandled exception", "traceback": traceback.format_exc()}
    text = output.getvalue()
    return json.loads(text[text.index("{"):])


def make_host(directory, preset, mig=True, name=None, **options):
    """A simulated host in ``directory`` (MIG on for every GPU when ``mig``), set up through
    the simulator and ``Hardware`` directly, not through the modules under test."""
    path = os.path.join(str(directory), name or "%s.json" % preset)
    simulated_host.create_host(path, preset, **options)
    if mig:
        with Hardware(simulator=path) as hardware:
            for device in hardware.devices():
                if hardware.set_mig_mode(device.index, True) is not None or not hardware.device(device.index).mig_current:
                    hardware.reset_gpu(device.index)
    return path


def tree_snapshot(directory):
    """{relative path: (mode, sha256)} of every file and directory under ``directory``.

    Lock files are left out: taking a lock (and creating its empty file) is not a change
    of the host. Everything else, the simulator state included, must stay byte-identical.
    """
    snapshot = {}
    directory = str(directory)
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            full = os.path.join(root, name)
            relative = os.path.relpath(full, directory)
            if name.endswith(".lock"):
                continue
            status = os.lstat(full)
            digest = None
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
            snapshot[relative] = (status.st_mode, digest)
    return snapshot


def describe_layouts(path):
    """{GPU index: sorted (profile, placement start, size, compute instances)} of a host, as
    the simulator itself stores them (independent of the collection's own reading)."""
    description = simulated_host.describe_host(path)
    return dict(
        (
            gpu["index"],
            sorted(
                (
                    instance["profile"],
                    instance["placement"]["start"],
                    instance["placement"]["size"],
                    tuple(sorted((ci["profile"], ci["placement"]["start"]) for ci in instance["compute_instances"])),
                )
                for instance in gpu["gpu_instances"]
            ),
        )
        for gpu in description["gpus"]
    )


def instance_uuids(path):
    """{(GPU index, GI id, CI id): MIG UUID} of every compute instance of the host."""
    description = simulated_host.describe_host(path)
    return dict(
        ((gpu["index"], gi["gi_id"], ci["ci_id"]), ci["mig_uuid"])
        for gpu in description["gpus"]
        for gi in gpu["gpu_instances"]
        for ci in gi["compute_instances"]
    )


def journal_path(path):
    return _host.host_files(path)[1]


def lock_path(path):
    return _host.host_files(path)[0]


def start_playbook(playbook, extra_vars):
    """Start ansible-playbook (the venv's, on localhost) without waiting for it, with the
    collection resolved from this checkout (build/dev, as tests/conftest.py sets it up)."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env.pop("GPUOPS_MIG_SIMULATOR", None)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=os.path.join(repo, "build", "dev"),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
    )
    binary = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    command = [binary, str(playbook), "-i", "localhost,", "-c", "local", "-e", json.dumps(extra_vars)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


#: Bugs this battery found that are not fixed yet (none open now): {key: "file.function:
#: problem"}. The tests that show one are marked ``known_bug(key)``, xfail(strict=True), so
#: they fail (XPASS) once the bug is fixed and the mark has to go.
KNOWN_BUGS = {}


def known_bug(key, strict=True):
    import pytest

    return pytest.mark.xfail(strict=strict, reason=KNOWN_BUGS[key])

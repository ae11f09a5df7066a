"""Interruptions of the run that settles an interrupted run (issue 16): however often runs
die, and wherever, every GPU ends in its layout from before the first run or in the
layout a run completed, never in between, and no busy instance is lost.

The journal keeps each GPU's route back to where the first interrupted run found it
until that GPU is settled; a recovery run that is itself killed must not replace it.
"""

import os
import random
import shutil
import signal
import subprocess
import sys

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from forked_runs import KILLED, ForkServer
from journal_watch import wait_for_journal_steps
from reliability_plans import PLANS, build_host, host_gpus, layout_key, mig_uuids, run_args
from reliability_support import journal_path, make_host, run_module

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "module_child.py")
RESHAPE = next(plan for plan in PLANS if plan.name == "h100-reshape")

ORIGINAL = ["4g.40gb", "1g.10gb", "1g.10gb", "1g.10gb"]
SEVEN = ["1g.10gb"] * 7


def _layouts(path, indices):
    gpus = host_gpus(path)
    return dict((index, layout_key(gpus[index]["gpu_instances"])) for index in indices)


def _journal_pid(path):
    import json

    try:
        with open(journal_path(path)) as handle:
            return json.load(handle)["pid"]
    except (IOError, ValueError, KeyError):
        return None


def _start(module, args):
    import json

    return subprocess.Popen([sys.executable, CHILD, module, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill(child):
    assert child.poll() is None, "the run ended before it could be interrupted: %s" % (child.communicate(),)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()


@pytest.mark.parametrize("recovery_steps", [0, 1, 2])
def test_a_recovery_run_killed_keeps_the_original_layout_reachable(host_dir, recovery_steps):
    """Issue 16 case 1 (realistic latency): 7x1g.10gb over [4g.40gb, 1g.10gb x3] killed part
    way on GPUs 0-3, a rerun on GPUs 0-1 killed once it has rewritten the journal (and
    ``recovery_steps`` steps further), then mig_mode: every GPU is back in its original
    layout and the 1g.10gb instances the plan kept have their MIG UUIDs."""
    path = make_host(host_dir, "dgx-h100")
    gpus = ["0", "1", "2", "3"]
    assert not run_module("mig_instance", {"simulator": path, "gpus": gpus, "layout": ORIGINAL}).get("failed")
    original = _layouts(path, range(4))
    kept = dict((key, value) for key, value in mig_uuids(path).items() if value[0] == "1g.10gb")
    simulated_host.update_host(path, latency="realistic")

    first = _start("mig_instance", {"simulator": path, "gpus": gpus, "layout": SEVEN})
    wait_for_journal_steps(first, journal_path(path), 3)  # the 4g.40gb is gone on every GPU
    _kill(first)
    assert all(layout != original[index] for index, layout in _layouts(path, range(4)).items())

    rerun = _start("mig_instance", {"simulator": path, "gpus": gpus[:2], "layout": SEVEN})
    while _journal_pid(path) != rerun.pid and rerun.poll() is None:
        pass
    if recovery_steps:
        wait_for_journal_steps(rerun, journal_path(path), recovery_steps)
    _kill(rerun)

    simulated_host.update_host(path, latency={})
    result = run_module("mig_mode", {"simulator": path, "state": "enabled", "gpus": gpus})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["recovered"] is True and result["changed"] is True
    assert not os.path.exists(journal_path(path))
    assert _layouts(path, range(4)) == original
    assert dict((key, value) for key, value in mig_uuids(path).items() if key in kept) == kept


# ----------------------------------------------------------------------- random points

#: Recovery runs: (module, arguments beyond the simulator); the final clean run repeats it.
RECOVERY_RUNS = {
    "same": ("mig_instance", dict(RESHAPE.args, gpus=["1", "2"])),
    "different": ("mig_instance", {"gpus": ["1", "2"], "layout": ["3g.40gb", "3g.40gb"]}),
    "other-gpus": ("mig_instance", {"gpus": ["3"], "layout": ["1g.10gb"], "feature_gates": {"AutoEnableMig": True}}),
    "mig_mode": ("mig_mode", {"gpus": ["4"], "state": "enabled"}),
}

#: Journal writes of an uninterrupted RESHAPE run: the journal itself and 9 steps per GPU.
FIRST_RUN_WRITES = 1 + 2 * 9


@pytest.fixture(scope="module")
def fork_server():
    server = ForkServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """RESHAPE's host with a process on the 3g.40gb it keeps on GPU 1 (a busy instance),
    and the layouts each final run leaves (from the original layout)."""
    directory = str(tmp_path_factory.mktemp("template"))
    path = build_host(directory, RESHAPE)
    busy = next(gi for gi in host_gpus(path)[1]["gpu_instances"] if gi["profile"] == "3g.40gb")
    simulated_host.update_host(path, processes=[{"pid": 4242, "gpu": 1, "gi_id": busy["gi_id"], "ci_id": 0, "name": "train.py"}])
    original = _layouts(path, RESHAPE.gpus)
    finals = {}
    for kind, (module, args) in RECOVERY_RUNS.items():
        reference = _copy_host(path, str(tmp_path_factory.mktemp(kind)))
        assert not run_module(module, dict(args, simulator=reference)).get("failed")
        finals[kind] = _layouts(reference, RESHAPE.gpus)
    assert finals["other-gpus"] == finals["mig_mode"] == original != finals["same"] != finals["different"]
    return path, finals


def _copy_host(path, directory):
    """A copy of a simulated host (state file and device tree) in ``directory``."""
    name = os.path.basename(path)
    for entry in os.listdir(os.path.dirname(path)):
        if entry.startswith(name) and not entry.endswith((".lock", "-journal.json")):
            source, target = os.path.join(os.path.dirname(path), entry), os.path.join(directory, entry)
            (shutil.copytree if os.path.isdir(source) else shutil.copy2)(source, target, **({"symlinks": True} if os.path.isdir(source) else {}))
    return os.path.join(directory, name)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(52))
def test_killed_twice_at_random_points_then_one_clean_run(host_dir, template, fork_server, seed):
    """The first run dies at a random journal write, the recovery run (a random kind) at
    another; one clean run of that kind settles everything: every GPU in the original
    layout or in the one that run wants, exactly; busy and bystander instances keep their
    MIG UUIDs; no journal is left and the next run changes nothing."""
    rng = random.Random(seed)
    path = _copy_host(template[0], host_dir)
    before = mig_uuids(path)
    protected = dict((key, value) for key, value in before.items() if key[0] == 0 or value[:2] == ("3g.40gb", 4))
    result_file = os.path.join(host_dir, "result.json")

    first = (rng.randint(1, FIRST_RUN_WRITES), rng.random() < 0.5)
    code, _result = fork_server.run("mig_instance", run_args(RESHAPE, path), result_file, die_at=first)
    assert code == KILLED
    kind = sorted(RECOVERY_RUNS)[seed % len(RECOVERY_RUNS)]
    module, args = RECOVERY_RUNS[kind]
    second = (rng.randint(1, 20), rng.random() < 0.5)
    code, result = fork_server.run(module, dict(args, simulator=path), result_file, die_at=second)
    assert code == KILLED or (result and result.get("failed") is not True), result

    code, result = fork_server.run(module, dict(args, simulator=path), result_file)
    assert code == 0 and result.get("failed") is not True, (first, kind, second, result)
    assert _layouts(path, RESHAPE.gpus) == template[1][kind], (first, kind, second)
    assert dict((key, value) for key, value in mig_uuids(path).items() if key in protected) == protected
    assert not os.path.exists(journal_path(path))
    code, result = fork_server.run(module, dict(args, simulator=path), result_file)
    assert result["changed"] is False, (first, kind, second, result)

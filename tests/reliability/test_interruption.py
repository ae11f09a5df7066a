"""Interruption: kill -9 the module process at random points of a slow reconfiguration
(the simulator's "realistic" latency model), then check that the next run finds the
journal and converges, and that nothing outside the plan was touched.

The killed process is a real module run (module_child.py: the module's main() in its own
OS process), killed with SIGKILL, so no cleanup code of it runs.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.state import read_state
from journal_watch import wait_for_journal_steps
from reliability_support import journal_path, run_module
from reliability_plans import PLAN_CALLS, PLANS, build_host, host_gpus, layout_key, mig_uuids, run_args

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "module_child.py")
RESHAPE = next(plan for plan in PLANS if plan.name == "h100-reshape")

#: Seconds a full run of RESHAPE takes with realistic latency here, about (start-up
#: included); kill points are drawn below it.
RUN_SECONDS = 4.0


def start(module, args, env=None):
    environment = dict(os.environ, **(env or {}))
    return subprocess.Popen(
        [sys.executable, CHILD, module, json.dumps(args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment
    )


def die_between_call_and_journal(plan, path, gpu, step):
    """Run ``plan`` (GPU by GPU, so the other GPUs are at a known point) in a child that
    dies right after step ``step`` of GPU ``gpu`` was done on the hardware, before the
    journal records it."""
    child = start("mig_instance", dict(run_args(plan, path), parallel=1), {"RELIABILITY_EXIT_BEFORE_RECORD": json.dumps({"gpu": gpu, "step": step})})
    output, errors = child.communicate()
    assert child.returncode == 137, (output, errors)


def kill_after(child, seconds):
    """SIGKILL ``child`` after ``seconds`` (or when it has ended by then); returns whether
    it was still running when killed."""
    deadline = time.time() + seconds
    while time.time() < deadline and child.poll() is None:
        time.sleep(0.01)
    running = child.poll() is None
    if running:
        os.kill(child.pid, signal.SIGKILL)
    child.communicate()
    return running


def kill_when_journal_has(child, path, steps):
    """SIGKILL ``child`` once its journal records ``steps`` completed steps on every GPU."""
    wait_for_journal_steps(child, journal_path(path), steps)
    assert child.poll() is None, "the run ended before it could be interrupted"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()


def slow_host(directory, plan=RESHAPE):
    path = build_host(directory, plan)
    simulated_host.update_host(path, latency="realistic")
    return path


def untouched(path, before, plan):
    """The instances outside the plan: every GPU not in the run, and the instances the plan
    keeps, are exactly as they were (same ids, same MIG UUIDs)."""
    after = mig_uuids(path)
    outside = dict((key, value) for key, value in before.items() if key[0] not in plan.gpus)
    assert dict((key, value) for key, value in after.items() if key[0] not in plan.gpus) == outside
    for gpu, profile, start in plan.keeps:
        kept_before = dict((key, value) for key, value in before.items() if key[0] == gpu and value[:2] == (profile, start))
        assert kept_before and all(after.get(key) == value for key, value in kept_before.items())


def converge_fast(path, plan, expected_layouts):
    """The next run (latency off to keep the test quick) reports the recovery and converges."""
    simulated_host.update_host(path, latency={})
    had_journal = os.path.exists(journal_path(path))
    result = run_module("mig_instance", run_args(plan, path))
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["recovered"] is had_journal
    gpus = host_gpus(path)
    for index in plan.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == expected_layouts[index]
    assert not os.path.exists(journal_path(path))
    assert run_module("mig_instance", run_args(plan, path))["changed"] is False
    return result


@pytest.fixture(scope="module")
def reshape_final(tmp_path_factory):
    """Layouts RESHAPE leaves on its GPUs when nothing interrupts it."""
    path = build_host(tmp_path_factory.mktemp("reference"), RESHAPE)
    assert not run_module("mig_instance", run_args(RESHAPE, path)).get("failed")
    gpus = host_gpus(path)
    return dict((index, layout_key(gpus[index]["gpu_instances"])) for index in RESHAPE.gpus)


def test_killed_between_steps_the_next_run_completes_the_plan(host_dir, reshape_final):
    path = slow_host(host_dir)
    before = mig_uuids(path)
    kill_when_journal_has(start("mig_instance", run_args(RESHAPE, path)), path, 3)
    read_state(path)  # the state file is whole
    untouched(path, before, RESHAPE)
    assert converge_fast(path, RESHAPE, reshape_final)["recovered"] is True
    untouched(path, before, RESHAPE)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_killed_at_a_random_point_the_next_run_converges(host_dir, reshape_final, seed):
    path = slow_host(host_dir)
    before = mig_uuids(path)
    delay = random.Random(seed).uniform(0.3, RUN_SECONDS)
    kill_after(start("mig_instance", run_args(RESHAPE, path)), delay)
    read_state(path)
    untouched(path, before, RESHAPE)
    converge_fast(path, RESHAPE, reshape_final)
    untouched(path, before, RESHAPE)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 104))
def test_killed_then_another_layout_is_wanted(host_dir, seed):
    """A run that wants something else plans from what the killed run left."""
    path = slow_host(host_dir)
    before = mig_uuids(path)
    kill_after(start("mig_instance", run_args(RESHAPE, path)), random.Random(seed).uniform(0.3, RUN_SECONDS))
    simulated_host.update_host(path, latency={})
    args = dict(run_args(RESHAPE, path), layout=["3g.40gb", "3g.40gb"])
    result = run_module("mig_instance", args)
    assert result.get("failed") is not True, result.get("msg", result)
    gpus = host_gpus(path)
    for index in RESHAPE.gpus:
        assert [(profile, placement) for profile, placement, dummy in layout_key(gpus[index]["gpu_instances"])] == [(9, (0, 4)), (9, (4, 4))]
    assert not os.path.exists(journal_path(path))
    untouched(path, before, RESHAPE._replace(keeps=[]))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(200, 204))
def test_killed_then_a_run_on_other_gpus_rolls_the_interrupted_ones_back(host_dir, seed):
    """A run that does not address the interrupted GPUs returns them to their layout from
    before the killed run (when the kill left a journal; else leaves them as they are),
    and does its own work."""
    path = slow_host(host_dir)
    initial = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    before = mig_uuids(path)
    kill_after(start("mig_instance", run_args(RESHAPE, path)), random.Random(seed).uniform(0.3, RUN_SECONDS))
    if not os.path.exists(journal_path(path)):  # killed before its first change or after its last
        initial = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    simulated_host.update_host(path, latency={})
    other = {"simulator": path, "gpus": ["3"], "layout": ["1g.10gb"], "feature_gates": {"AutoEnableMig": True}}
    result = run_module("mig_instance", other)
    assert result.get("failed") is not True, result.get("msg", result)
    gpus = host_gpus(path)
    for index in RESHAPE.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == initial[index]
    assert [instance["profile"] for instance in gpus[3]["gpu_instances"]] == ["1g.10gb"]
    assert not os.path.exists(journal_path(path))
    untouched(path, before, RESHAPE._replace(gpus=RESHAPE.gpus + [3]))


def test_killed_mig_instance_then_mig_mode_settles_the_journal_first(host_dir):
    path = slow_host(host_dir)
    initial = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    kill_when_journal_has(start("mig_instance", run_args(RESHAPE, path)), path, 2)
    simulated_host.update_host(path, latency={})
    result = run_module("mig_mode", {"simulator": path, "state": "enabled", "gpus": ["4"]})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["recovered"] is True
    gpus = host_gpus(path)
    for index in RESHAPE.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == initial[index]
    assert not os.path.exists(journal_path(path))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(300, 304))
def test_killed_mig_mode_the_next_run_converges(host_dir, seed):
    """Enabling MIG on four A100s (mode request, then a reset per GPU) killed part way."""
    path = build_host(host_dir, next(plan for plan in PLANS if plan.name == "a100-build"))
    simulated_host.update_host(path, latency="realistic")
    before = mig_uuids(path)
    args = {"simulator": path, "state": "enabled", "gpus": ["4", "5", "6", "7"]}
    kill_after(start("mig_mode", args), random.Random(seed).uniform(0.3, 4.0))
    simulated_host.update_host(path, latency={})
    result = run_module("mig_mode", args)
    assert result.get("failed") is not True, result.get("msg", result)
    gpus = host_gpus(path)
    assert [(gpus[i]["mig_current"], gpus[i]["mig_pending"]) for i in (4, 5, 6, 7)] == [(True, True)] * 4
    assert mig_uuids(path) == before
    assert run_module("mig_mode", args)["changed"] is False


#: Every plan of the fault matrix; its steps per GPU are its calls in PLAN_CALLS.
CRASH_PLANS = PLANS


def _crash_points():
    points = []
    for plan in CRASH_PLANS:
        steps = sum(PLAN_CALLS[plan.name].values())
        for step in range(steps):
            fast = plan.name == "h100-reshape" and step in (0, 3, 6, steps - 1)
            marks = [] if fast else [pytest.mark.slow]
            points.append(pytest.param(plan, step, marks=marks, id="%s-step%d" % (plan.name, step)))
    return points


@pytest.fixture(scope="module")
def final_layouts(tmp_path_factory):
    layouts = {}
    for plan in CRASH_PLANS:
        path = build_host(tmp_path_factory.mktemp(plan.name), plan)
        assert not run_module("mig_instance", run_args(plan, path)).get("failed")
        gpus = host_gpus(path)
        layouts[plan.name] = dict((index, layout_key(gpus[index]["gpu_instances"])) for index in plan.gpus)
    return layouts


@pytest.mark.parametrize("plan,step", _crash_points())
def test_a_crash_between_a_call_and_its_journal_entry_is_recovered(host_dir, final_layouts, plan, step):
    """The worst moment to die: the hardware changed, the journal does not say so yet.
    The next run must recognise the change on the hardware and complete the plan."""
    path = build_host(host_dir, plan)
    before = mig_uuids(path)
    die_between_call_and_journal(plan, path, plan.gpus[-1], step)
    untouched(path, before, plan)
    converge_fast(path, plan, final_layouts[plan.name])
    untouched(path, before, plan)


@pytest.mark.parametrize("plan,step", _crash_points())
def test_a_crash_between_a_call_and_its_journal_entry_is_rolled_back(host_dir, plan, step):
    """Same crash; the next run does not want these GPUs: they go back to their layout
    from before the crashed run."""
    path = build_host(host_dir, plan)
    initial = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    die_between_call_and_journal(plan, path, plan.gpus[-1], step)
    result = run_module("mig_instance", {"simulator": path, "gpus": ["0"], "state": "absent"})
    assert result.get("failed") is not True, result.get("msg", result)
    assert result["recovered"] is True
    gpus = host_gpus(path)
    for index in plan.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == initial[index]
    assert not os.path.exists(journal_path(path))

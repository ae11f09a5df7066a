"""Concurrency: runs against one host serialise on the host lock, a lock left by a dead
process does not block, a live holder is named, and the final layout is the later run's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import journal_path, lock_path, make_host, run_module, start_playbook, tree_snapshot
from reliability_plans import host_gpus
from forked_runs import ForkServer

PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "apply_layout.yml"
CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "module_child.py")

LAYOUTS = [
    ["3g.40gb", "3g.40gb"],
    ["7g.80gb"],
    ["2g.20gb", "2g.20gb", "2g.20gb", "1g.10gb"],
    ["4g.40gb", "1g.10gb", "1g.10gb", "1g.10gb"],
]


def slow_h100(directory):
    path = make_host(directory, "dgx-h100")
    simulated_host.update_host(path, latency="realistic")
    return path


def wait_for_holder(path, timeout=60):
    """The holder a run wrote into the host lock file, once it holds the lock."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(lock_path(path)) as handle:
                text = handle.read()
        except IOError:
            text = ""
        if text:
            return json.loads(text)
        time.sleep(0.01)
    raise AssertionError("no run took the host lock")


def test_two_playbooks_at_once_serialise_and_the_later_one_wins(host_dir, tmp_path):
    path = slow_h100(host_dir)
    first_result, second_result = tmp_path / "first.json", tmp_path / "second.json"
    common = {"simulator_path": path, "gpu_list": ["1", "2"]}
    first = start_playbook(PLAYBOOK, dict(common, wanted_layout=LAYOUTS[0], result_file=str(first_result)))
    holder = wait_for_holder(path)
    second = start_playbook(PLAYBOOK, dict(common, wanted_layout=LAYOUTS[1], result_file=str(second_result)))
    for playbook in (first, second):
        output, errors = playbook.communicate(timeout=300)
        assert playbook.returncode == 0, output + errors
    assert holder["module"] == "gpuops.mig.mig_instance"
    first_run = json.loads(first_result.read_text())
    second_run = json.loads(second_result.read_text())
    # The second run planned from what the first left: it waited for the whole first run.
    assert second_run["diff"]["before"] == first_run["diff"]["after"]
    gpus = host_gpus(path)
    assert [[instance["profile"] for instance in gpus[index]["gpu_instances"]] for index in (1, 2)] == [["7g.80gb"], ["7g.80gb"]]
    assert not os.path.exists(journal_path(path))


@pytest.mark.slow
def test_four_runs_at_once_form_one_chain(host_dir):
    """Each run plans from exactly what the run before it left; the last one's layout stays."""
    path = slow_h100(host_dir)
    children = [
        subprocess.Popen(
            [sys.executable, CHILD, "mig_instance",
             json.dumps({"simulator": path, "gpus": ["3"], "layout": layout, "_ansible_diff": True, "lock_timeout": 300})],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for layout in LAYOUTS
    ]
    results = []
    for child in children:
        output, errors = child.communicate(timeout=300)
        assert child.returncode == 0, errors
        results.append(json.loads(output))
    assert all(result.get("failed") is not True for result in results), results
    befores = [result["diff"]["before"]["gpu3"] for result in results]
    afters = [result["diff"]["after"]["gpu3"] for result in results]
    first = [i for i, before in enumerate(befores) if before == []]
    assert len(first) == 1
    chain = first
    while len(chain) < len(results):
        following = [i for i in range(len(results)) if i not in chain and befores[i] == afters[chain[-1]]]
        assert len(following) == 1, "runs interleaved: %s" % results
        chain += following
    final = [instance["profile"] for instance in host_gpus(path)[3]["gpu_instances"]]
    assert sorted(final) == sorted(LAYOUTS[chain[-1]])


def _hold_lock_in_child(path, seconds):
    """A process that takes the host lock the way a run does and sleeps holding it."""
    script = (
        "import sys, time\n"
        "sys.path.insert(0, %r)\n"
        "from ansible_collections.gpuops.mig.plugins.module_utils import _lock\n"
        "with _lock.host_lock(%r, 5, 'gpuops.mig.mig_instance'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(%r)\n"
    ) % (str(Path(__file__).resolve().parents[2] / "build" / "dev"), lock_path(path), seconds)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, universal_newlines=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_lock_held_by_a_killed_process_does_not_block(host_factory):
    path = host_factory("dgx-h100")
    holder = _hold_lock_in_child(path, 600)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert os.path.getsize(lock_path(path)) > 0  # the dead holder's record is still in the file
    result = run_module("mig_instance", {"simulator": path, "gpus": ["1"], "layout": ["1g.10gb"], "lock_timeout": 0})
    assert result.get("failed") is not True, result.get("msg", result)
    assert [instance["profile"] for instance in host_gpus(path)[1]["gpu_instances"]] == ["1g.10gb"]


def test_a_lock_file_left_with_a_dead_pid_does_not_block(host_factory):
    path = host_factory("dgx-h100")
    with open(lock_path(path), "w") as handle:
        json.dump({"pid": 999999, "module": "gpuops.mig.mig_instance", "since": "2026-01-01T00:00:00+0000"}, handle)
    result = run_module("mig_mode", {"simulator": path, "gpus": ["1"], "state": "disabled", "lock_timeout": 0})
    assert result.get("failed") is not True, result.get("msg", result)


@pytest.mark.parametrize("module,args", [
    ("mig_instance", {"gpus": ["1"], "layout": ["1g.10gb"]}),
    ("mig_mode", {"gpus": ["1"], "state": "disabled"}),
])
def test_a_live_holder_is_named_and_nothing_changes(host_dir, module, args):
    path = make_host(host_dir, "dgx-h100")
    holder = _hold_lock_in_child(path, 60)
    try:
        before = tree_snapshot(host_dir)
        result = run_module(module, dict(args, simulator=path, lock_timeout=0.3))
        assert tree_snapshot(host_dir) == before
    finally:
        holder.kill()
        holder.wait()
    assert result.get("failed") is True and "traceback" not in result, result
    assert "pid %d" % holder.pid in result["msg"] and "gpuops.mig.mig_instance" in result["msg"]
    assert "lock_timeout=0.3" in result["msg"]
    assert result["lock_holder"]["pid"] == holder.pid


def test_mig_mode_and_mig_instance_share_the_lock(host_dir):
    """A mig_mode run waits for a mig_instance run on the same host and sees its result."""
    path = slow_h100(host_dir)
    instance_run = subprocess.Popen(
        [sys.executable, CHILD, "mig_instance", json.dumps({"simulator": path, "gpus": ["4"], "layout": ["3g.40gb", "3g.40gb"]})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    wait_for_holder(path)
    result = run_module("mig_mode", {"simulator": path, "gpus": ["4"], "state": "disabled", "lock_timeout": 120})
    output, errors = instance_run.communicate(timeout=120)
    assert json.loads(output).get("failed") is not True, output + errors
    # mig_mode ran after the instances existed, so it refused to disable MIG under them.
    assert result.get("failed") is True and "MIG instances exist" in result["msg"], result
    assert len(host_gpus(path)[4]["gpu_instances"]) == 2


#: Runs started while a mig_instance run reshapes GPU 3 (issue 16 case 2): readers,
#: check-mode runs and further writers. (module, extra arguments, check mode)
MIXES = {
    "two": [("gpu_info", {}, False)],
    "three": [("mig_instance", {"gpus": ["3"], "layout": LAYOUTS[1]}, True), ("cdi_spec", {}, False)],
    "five": [
        ("gpu_info", {}, False),
        ("cdi_spec", {}, False),
        ("mig_instance", {"gpus": ["3"], "layout": LAYOUTS[1]}, True),
        ("mig_instance", {"gpus": ["3"], "layout": LAYOUTS[2]}, False),
    ],
}


def _profiles(view):
    """Profile names of a diff layout view (``3g.40gb@0:4 [..]``), sorted."""
    return sorted(entry.split("@")[0] for entry in view)


@pytest.fixture(scope="module")
def fork_server():
    server = ForkServer()
    yield server
    server.close()


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_readers_check_runs_and_writers_at_once_see_no_change_half_done(host_dir, tmp_path, fork_server, mix):
    """While one run reshapes GPU 3, every other run (gpu_info, cdi_spec, check mode, a
    second writer) waits for it: none fails with an NVML error, every read shows GPU 3 in
    a layout some run left (never one in between), and the last writer's layout stays.
    Runs are module processes forked from one server (cheap start-up, same code path)."""
    path = slow_h100(host_dir)
    runs = [("mig_instance", {"gpus": ["3"], "layout": LAYOUTS[3]}, False)] + MIXES[mix]
    results = []
    for number, (module, extra, check_mode) in enumerate(runs):
        args = dict(extra, simulator=path, _ansible_check_mode=check_mode)
        if module == "mig_instance":
            args.update(lock_timeout=300, _ansible_diff=True)
        if module == "cdi_spec":
            args["path"] = str(tmp_path / ("cdi-%d" % number) / "nvidia.yaml")
        results.append(str(tmp_path / ("result-%d.json" % number)))
        fork_server.start(module, args, results[-1])
        if number == 0:
            wait_for_holder(path)
    results = [fork_server.result(result_file) for result_file in results]
    for result in results:
        assert result.get("failed") is not True and "NVML_ERROR" not in json.dumps(result), result
    consistent = [[]] + [sorted(extra["layout"]) for module, extra, check in runs if module == "mig_instance"]
    for (module, extra, check_mode), result in zip(runs, results):
        if module == "gpu_info":
            gpu3 = next(gpu for gpu in result["gpus"] if gpu["index"] == 3)
            assert sorted(gi["profile"] for gi in gpu3["gpu_instances"]) in consistent, gpu3["gpu_instances"]
        elif module == "mig_instance" and check_mode:
            assert _profiles(result["diff"]["before"]["gpu3"]) in consistent, result["diff"]
    writers = [(extra, result) for (module, extra, check), result in zip(runs, results) if module == "mig_instance" and not check]
    last = [extra for extra, result in writers if all(other["diff"]["before"] != result["diff"]["after"] for _e, other in writers)]
    assert len(last) == 1
    assert sorted(gi["profile"] for gi in host_gpus(path)[3]["gpu_instances"]) == sorted(last[0]["layout"])

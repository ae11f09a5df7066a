"""Fault matrix: every mutating call of a reconfiguration fails, at every position of
representative plans on several boards, with every plausible error.

NVML faults are armed in the simulated host (``simulated_host`` ``faults``: function,
call N, error, GPU), so the failure comes up through pynvml like a driver's would. A
case runs the module once with the fault and asserts:

* the module fails with a message naming the host, the GPU, the call and the error;
* every MIG instance the plan does not destroy still exists, with its MIG UUID;
* the returned instances are exactly what the host has; a journal left behind describes
  the host exactly (its ``before`` plus its completed steps), and without one the host is
  back to the layout it had;
* after the fault is cleared, a re-run converges to the layout a fault-free run gives,
  and a further run changes nothing.

Reset, Fabric Manager and CDI write failures are in test_fault_matrix_other.py.
The full matrix is marked slow; the cases with FAST_ERROR at the first and last
position run without the marker.
"""

import collections
import json
import os
import socket

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_plans import (
    BYSTANDER,
    ERRORS,
    PLAN_CALLS,
    PLANS,
    build_host,
    exact_key,
    host_gpus,
    journal_layout,
    layout_key,
    mig_uuids,
    run_args,
)
from reliability_support import journal_path, run_module

#: One case per (plan, function) at the first and the last position, with one error, runs
#: in every test run; the rest of the matrix is marked slow.
FAST_ERROR = "NVML_ERROR_UNKNOWN"

HOSTNAME = socket.gethostname()

Reference = collections.namedtuple("Reference", ["calls_per_gpu", "final", "destroyed"])


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """What each plan does without faults: mutating calls per GPU, final layouts, and the
    (GPU, GI id) / (GPU, GI id, CI id) it destroys (ids are the same on a fresh host built
    the same way, since the driver hands them out deterministically)."""
    found = {}
    for plan in PLANS:
        directory = tmp_path_factory.mktemp(plan.name)
        path = build_host(directory, plan)
        before = dict(simulated_host.describe_host(path)["mutating_calls"])
        result = run_module("mig_instance", run_args(plan, path))
        assert not result.get("failed"), result
        after = simulated_host.describe_host(path)["mutating_calls"]
        calls = dict((name, (after.get(name, 0) - before.get(name, 0)) // len(plan.gpus)) for name in after)
        destroyed = set()
        for action in result["actions"]:
            if action["action"] == "destroy_gpu_instance":
                destroyed.add((action["gpu"], action["gi_id"]))
            elif action["action"] == "destroy_compute_instance":
                destroyed.add((action["gpu"], action["gi_id"], action["ci_id"]))
        gpus = host_gpus(path)
        found[plan.name] = Reference(calls, dict((i, layout_key(gpus[i]["gpu_instances"])) for i in plan.gpus), destroyed)
    return found


def matrix():
    """(plan, function, position, error) of every case; positions come from PLAN_CALLS
    (written out in reliability_plans so the case list exists before any host does, and
    checked against what the plans really call)."""
    cases = []
    for plan in PLANS:
        for function, count in sorted(PLAN_CALLS[plan.name].items()):
            for position in range(1, count + 1):
                for error in ERRORS[function]:
                    fast = error == FAST_ERROR and position in (1, count)
                    marks = [] if fast else [pytest.mark.slow]
                    cases.append(pytest.param(plan, function, position, error, marks=marks,
                                              id="%s-%s-%d-%s" % (plan.name, function, position, error.replace("NVML_ERROR_", ""))))
    return cases


def test_the_case_list_matches_what_the_plans_really_call(references):
    for plan in PLANS:
        measured = dict((name, count) for name, count in references[plan.name].calls_per_gpu.items() if count)
        assert measured == PLAN_CALLS[plan.name], plan.name
    for plan in PLANS:
        for gpu, profile, start in plan.keeps:
            assert not any(key[0] == gpu and key[1:] == (profile, start) for key in references[plan.name].destroyed)


def test_the_matrix_is_large():
    assert len(matrix()) >= 150


# ----------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("plan,function,position,error", matrix())
def test_a_failing_call_is_reported_rolled_back_and_recoverable(host_dir, references, plan, function, position, error):
    reference = references[plan.name]
    path = build_host(host_dir, plan)
    faulted_gpu = plan.gpus[-1]
    uuids_before = mig_uuids(path)
    layouts_before = dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())
    simulated_host.update_host(path, faults=[{"function": function, "call": position, "error": error, "gpu": faulted_gpu}])

    result = run_module("mig_instance", run_args(plan, path))

    # The failure names host, GPU, call and error, and is no traceback.
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    assert (result["call"], result["error"], result["gpu"]) == (function, error, faulted_gpu)
    for part in (HOSTNAME, "GPU %d" % faulted_gpu, function, error):
        assert part in result["msg"], "%r missing from: %s" % (part, result["msg"])

    # Nothing the plan does not destroy is lost: same instance, same MIG UUID.
    uuids_after = mig_uuids(path)
    for (gpu, gi_id, ci_id), identity in uuids_before.items():
        planned = (gpu, gi_id) in reference.destroyed or (gpu, gi_id, ci_id) in reference.destroyed
        if not planned:
            assert uuids_after.get((gpu, gi_id, ci_id)) == identity, "GPU %d GI %d CI %d lost" % (gpu, gi_id, ci_id)
    for gpu, profile, start in plan.keeps + [(0, BYSTANDER[plan.preset][0], 0)]:
        assert any(key[0] == gpu and value[:2] == (profile, start) for key, value in uuids_after.items())

    # The returned state and the journal describe the host exactly.
    gpus = host_gpus(path)
    lost = set(index for index, gpu in gpus.items() if gpu["lost"])
    for name, records in result["instances"].items():
        index = int(name[3:])
        if index not in lost:
            assert exact_key(records) == exact_key(gpus[index]["gpu_instances"]), name
    if os.path.exists(journal_path(path)):
        with open(journal_path(path)) as handle:
            journal = json.load(handle)
        for index, entry in journal["gpus"].items():
            assert journal_layout(entry) == layout_key(gpus[int(index)]["gpu_instances"]), "journal of GPU %s" % index
    else:
        for index in plan.gpus:
            assert layout_key(gpus[index]["gpu_instances"]) == layouts_before[index], "GPU %d not rolled back" % index

    # Without the fault the same run converges, and the next one changes nothing.
    simulated_host.update_host(path, faults=[{"gpu": index, "lost": False} for index in plan.gpus])
    rerun = run_module("mig_instance", run_args(plan, path))
    assert rerun.get("failed") is not True, rerun.get("msg", rerun)
    gpus = host_gpus(path)
    for index in plan.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == reference.final[index]
    assert not os.path.exists(journal_path(path))
    calls = dict(simulated_host.describe_host(path)["mutating_calls"])
    again = run_module("mig_instance", run_args(plan, path))
    assert again["changed"] is False and simulated_host.describe_host(path)["mutating_calls"] == calls


PERSISTENT = [
    pytest.param(plan, function, marks=[pytest.mark.slow] if plan.name != "h100-reshape" else [],
                 id="%s-%s-persistent" % (plan.name, function))
    for plan in PLANS
    for function in sorted(PLAN_CALLS[plan.name])
    if PLAN_CALLS[plan.name][function] >= 2
]


@pytest.mark.parametrize("plan,function", PERSISTENT)
def test_a_call_that_keeps_failing_leaves_a_journal_that_describes_the_host(host_dir, references, plan, function):
    """The second call fails and the function keeps failing, so the rollback cannot
    finish either: the journal left behind must say exactly what the host has, and the
    next run (fault gone) settles it."""
    reference = references[plan.name]
    path = build_host(host_dir, plan)
    faulted_gpu = plan.gpus[-1]
    simulated_host.update_host(
        path, faults=[{"function": function, "call": 2, "error": "NVML_ERROR_UNKNOWN", "gpu": faulted_gpu, "persistent": True}]
    )
    result = run_module("mig_instance", run_args(plan, path))
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") and result["call"] == function and result["gpu"] == faulted_gpu
    gpus = host_gpus(path)
    for name, records in result["instances"].items():
        assert exact_key(records) == exact_key(gpus[int(name[3:])]["gpu_instances"]), name
    failed_rollback = [action for action in result.get("rollback", []) if not action["ok"]]
    if failed_rollback:
        assert "rollback step(s) failed" in result["msg"]
        with open(journal_path(path)) as handle:
            journal = json.load(handle)
        for index, entry in journal["gpus"].items():
            assert journal_layout(entry) == layout_key(gpus[int(index)]["gpu_instances"]), "journal of GPU %s" % index
    simulated_host.update_host(path, faults=[])
    rerun = run_module("mig_instance", run_args(plan, path))
    assert rerun.get("failed") is not True, rerun.get("msg", rerun)
    assert rerun["recovered"] is bool(failed_rollback)
    gpus = host_gpus(path)
    for index in plan.gpus:
        assert layout_key(gpus[index]["gpu_instances"]) == reference.final[index]

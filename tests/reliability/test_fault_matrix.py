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
The full matrix is marked slow; FAST_CASES of it run without the marker.
"""

import collections
import copy
import json
import os
import socket

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import journal_path, make_host, run_module

#: Plausible errors per mutating NVML function (nvml.h return codes of these calls).
ERRORS = {
    "nvmlDeviceSetMigMode": ["NVML_ERROR_IN_USE", "NVML_ERROR_NO_PERMISSION", "NVML_ERROR_NOT_SUPPORTED",
                             "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_UNKNOWN"],
    "nvmlDeviceCreateGpuInstanceWithPlacement": ["NVML_ERROR_INSUFFICIENT_RESOURCES", "NVML_ERROR_NO_PERMISSION",
                                                 "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_UNKNOWN"],
    "nvmlGpuInstanceCreateComputeInstance": ["NVML_ERROR_INSUFFICIENT_RESOURCES", "NVML_ERROR_NO_PERMISSION",
                                             "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_UNKNOWN"],
    "nvmlGpuInstanceDestroy": ["NVML_ERROR_IN_USE", "NVML_ERROR_NO_PERMISSION", "NVML_ERROR_GPU_IS_LOST", "NVML_ERROR_UNKNOWN"],
    "nvmlComputeInstanceDestroy": ["NVML_ERROR_IN_USE", "NVML_ERROR_NO_PERMISSION", "NVML_ERROR_GPU_IS_LOST",
                                   "NVML_ERROR_UNKNOWN"],
}

#: A reconfiguration: preset, GPUs it runs on (each GPU gets the same plan, so the calls
#: per GPU are the total divided by their number), the layout set up on them first,
#: the module arguments of the run, and instances the plan must keep (GPU, profile, start)
#: so the "nothing else is touched" check is never vacuous.
Plan = collections.namedtuple("Plan", ["name", "preset", "gpus", "mig", "initial", "args", "keeps"])

H100_INITIAL = ["3g.40gb", "1g.10gb", "1g.10gb", {"profile": "2g.20gb", "compute_instances": ["1c", "1c"]}]

PLANS = [
    # Keeps the 3g.40gb and the 2g.20gb GPU instance (its compute instances change), drops
    # both 1g.10gb, adds a 1g.20gb: CI and GI destruction, CI on a kept GI, new GI + CI.
    Plan("h100-reshape", "dgx-h100", [1, 2], True, H100_INITIAL,
         {"layout": ["3g.40gb", "2g.20gb", "1g.20gb"]}, [(1, "3g.40gb", 4), (2, "3g.40gb", 4)]),
    # The same change as mig-parted would do it: wipe and recreate.
    Plan("h100-recreate", "dgx-h100", [3, 4], True, H100_INITIAL,
         {"layout": ["3g.40gb", "2g.20gb", "1g.20gb"], "disruption": "recreate"}, []),
    # Ampere from empty, with non-default compute instances and a +me profile.
    Plan("a100-build", "dgx-a100", [2, 3], True, [],
         {"layout": ["3g.20gb", {"profile": "2g.10gb", "compute_instances": ["1c", "1c"]}, "1g.5gb", "1g.5gb+me"]}, []),
    # 12-slot grid: a 2g.48gb becomes two 1g.24gb beside two kept ones.
    Plan("rtx-split", "rtx-pro-6000-x4", [1, 2], True, ["2g.48gb", "1g.24gb", "1g.24gb"],
         {"layout": ["1g.24gb"] * 4}, [(1, "1g.24gb", 6), (1, "1g.24gb", 9), (2, "1g.24gb", 6), (2, "1g.24gb", 9)]),
    # Hopper with MIG off and AutoEnableMig: the MIG mode change is a step of the plan.
    Plan("h100-auto-enable", "dgx-h100", [5, 6], False, None,
         {"layout": ["3g.40gb", "3g.40gb"], "feature_gates": {"AutoEnableMig": True}}, []),
]

#: Instances on GPUs outside the run that must never be touched (GPU 0 of every host).
BYSTANDER = {"dgx-h100": ["7g.80gb"], "dgx-a100": ["7g.40gb"], "rtx-pro-6000-x4": ["4g.96gb"]}

#: One case per (plan, function) at the first and the last position, with one error, runs
#: in every test run; the rest of the matrix is marked slow.
FAST_ERROR = "NVML_ERROR_UNKNOWN"

HOSTNAME = socket.gethostname()


# ----------------------------------------------------------------------------- host views


def layout_key(instances):
    """Order-independent layout of a GPU, ids left out: profile, placement, compute
    instances (profile, placement) of each GPU instance. ``instances`` are records as
    results and journals hold them, or simulator descriptions."""

    def placement(value):
        return tuple(value) if isinstance(value, list) else (value["start"], value["size"])

    return sorted(
        (
            instance["profile_id"],
            placement(instance["placement"]),
            sorted((ci["profile_id"], placement(ci["placement"])) for ci in instance["compute_instances"]),
        )
        for instance in instances
    )


def exact_key(instances):
    """Like layout_key, with GPU instance ids, compute instance ids and MIG UUIDs."""

    def placement(value):
        return tuple(value) if isinstance(value, list) else (value["start"], value["size"])

    return sorted(
        (
            instance["gi_id"],
            instance["profile_id"],
            placement(instance["placement"]),
            sorted((ci["ci_id"], ci["profile_id"], placement(ci["placement"]), ci["mig_uuid"]) for ci in instance["compute_instances"]),
        )
        for instance in instances
    )


def host_gpus(path):
    """{index: simulator description of the GPU} (the simulator's own view)."""
    return dict((gpu["index"], gpu) for gpu in simulated_host.describe_host(path)["gpus"])


def mig_uuids(path):
    """{(GPU, GI id, CI id): (GI profile, GI start, MIG UUID)} of every compute instance."""
    return dict(
        ((index, gi["gi_id"], ci["ci_id"]), (gi["profile"], gi["placement"]["start"], ci["mig_uuid"]))
        for index, gpu in host_gpus(path).items()
        for gi in gpu["gpu_instances"]
        for ci in gi["compute_instances"]
    )


def journal_layout(entry):
    """The layout a journal entry says the GPU has: ``before`` with the completed steps
    applied in order (an independent reading of the journal format)."""
    instances = copy.deepcopy(entry["before"])
    done = dict((int(number), result) for number, result in entry["done"].items())
    for number in sorted(done):
        step, result = entry["steps"][number], done[number]
        op = step["op"]
        if op == "destroy_ci":
            owner = next(gi for gi in instances if gi["gi_id"] == result["gi"])
            owner["compute_instances"] = [ci for ci in owner["compute_instances"] if ci["ci_id"] != result["ci"]]
        elif op == "destroy_gi":
            instances = [gi for gi in instances if gi["gi_id"] != result["gi"]]
        elif op == "create_gi":
            instances.append({"gi_id": result["gi"], "profile_id": step["profile"], "placement": step["placement"], "compute_instances": []})
        elif op == "create_ci":
            owner = next(gi for gi in instances if gi["gi_id"] == result["gi"])
            owner["compute_instances"].append({"ci_id": result["ci"], "profile_id": result["profile"], "placement": result["placement"]})
    return layout_key(instances)


# ----------------------------------------------------------------------------- setting up


def build_host(directory, plan):
    """A host for ``plan``: bystander instance on GPU 0, the initial layout on the plan's
    GPUs (MIG off there for plans that enable it)."""
    path = make_host(directory, plan.preset, mig=False)
    hardware_gpus = [0] + (plan.gpus if plan.mig else [])
    assert not run_module("mig_mode", {"simulator": path, "state": "enabled", "gpus": [str(i) for i in hardware_gpus]}).get("failed")
    bystander = run_module("mig_instance", {"simulator": path, "gpus": ["0"], "layout": BYSTANDER[plan.preset]})
    assert not bystander.get("failed"), bystander
    if plan.initial:
        initial = run_module("mig_instance", {"simulator": path, "gpus": [str(i) for i in plan.gpus], "layout": plan.initial})
        assert not initial.get("failed"), initial
    return path


def run_args(plan, path):
    return dict(plan.args, simulator=path, gpus=[str(index) for index in plan.gpus])


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
    """(plan, function, position, error) of every case; positions come from PLAN_CALLS."""
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


#: Mutating calls per GPU of each plan (what the references fixture measures; written out
#: so pytest can build the case list, and checked against the measurement).
PLAN_CALLS = {
    "h100-reshape": {"nvmlComputeInstanceDestroy": 4, "nvmlGpuInstanceDestroy": 2,
                     "nvmlDeviceCreateGpuInstanceWithPlacement": 1, "nvmlGpuInstanceCreateComputeInstance": 2},
    "h100-recreate": {"nvmlComputeInstanceDestroy": 5, "nvmlGpuInstanceDestroy": 4,
                      "nvmlDeviceCreateGpuInstanceWithPlacement": 3, "nvmlGpuInstanceCreateComputeInstance": 3},
    "a100-build": {"nvmlDeviceCreateGpuInstanceWithPlacement": 4, "nvmlGpuInstanceCreateComputeInstance": 5},
    "rtx-split": {"nvmlComputeInstanceDestroy": 1, "nvmlGpuInstanceDestroy": 1,
                  "nvmlDeviceCreateGpuInstanceWithPlacement": 2, "nvmlGpuInstanceCreateComputeInstance": 2},
    "h100-auto-enable": {"nvmlDeviceSetMigMode": 1, "nvmlDeviceCreateGpuInstanceWithPlacement": 2,
                         "nvmlGpuInstanceCreateComputeInstance": 2},
}


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

"""The representative reconfigurations of the battery and independent views of a host.

The plans (boards, GPUs, starting layouts, module arguments, what they must keep) are
shared by the fault matrix and the interruption tests. The views read the simulator's
own description of the host, never the collection's, and compare layouts with or
without the ids the driver hands out.
"""

import collections
import copy

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_support import make_host, run_module

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

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""mig_plan's glue around the fleet planner: gpu_info results in, module result out.

``fleet`` is what playbooks collect with ``gpu_info``: ``{host name: registered gpu_info
result}``. :func:`planner_gpus` turns it into the GPU dicts ``_fleet.plan_fleet`` takes,
rebuilding the ``_model`` namedtuples from the JSON the module returned. A GPU belongs to
a fabric partition when an *active* Fabric Manager partition of its host lists it
(defined but inactive partitions constrain nothing).

Planning itself is ``_fleet``'s; :func:`mig_plan` only reshapes its answer for users:
``plan`` with per-GPU layouts written the way ``mig_instance``'s ``layout`` option takes
them, ``summary`` counts, and the plan of every host as a mig-parted config.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ._capabilities import UNKNOWN
from ._errors import InputError
from ._fleet import plan_fleet
from ._migparted import render
from ._model import ComputeInstance, ComputeInstanceProfile, Engines, GpuDevice, GpuInstance, GpuInstanceProfile, Placement

#: Name of the config in each host's rendered mig-parted document.
PLANNED_CONFIG = "planned"


def planner_gpus(fleet):
    """``_fleet.plan_fleet``'s GPU dicts for a ``{host: gpu_info result}`` mapping.

    Each dict also carries ``device`` (the GPU as a ``_model.GpuDevice``). Raises
    InputError naming ``fleet.<host>`` for anything that is not a gpu_info result.
    """
    if not isinstance(fleet, dict) or not fleet:
        raise InputError("fleet", fleet, "must map each host name to its registered gpu_info result")
    gpus = []
    for host in sorted(fleet, key=str):
        result = fleet[host]
        option = "fleet.%s" % host
        if not isinstance(result, dict) or not isinstance(result.get("gpus"), list) or result.get("failed"):
            raise InputError(option, _abridged(result), "is not a successful gpu_info result (it needs the 'gpus' list gpu_info returns)")
        partitions = _active_partitions(result.get("fabric"))
        for position, entry in enumerate(result["gpus"]):
            try:
                gpus.append(_planner_gpu(host, entry, partitions))
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise InputError(
                    "%s.gpus[%d]" % (option, position),
                    _abridged(entry),
                    "is not a gpu_info GPU entry (missing or malformed %s)" % error,
                )
    return gpus


def _abridged(value):
    """A short rendering of a (possibly huge) result for error messages."""
    if isinstance(value, dict):
        return "{%s}" % ", ".join(sorted(str(key) for key in value))
    return value


def _active_partitions(fabric):
    """{GPU index: partition id} over the active partitions gpu_info reported."""
    members = {}
    for partition in (fabric or {}).get("partitions") or ():
        if partition.get("active"):
            for gpu in partition.get("gpus") or ():
                if gpu.get("index") is not None:
                    members[gpu["index"]] = partition["id"]
    return members


def _planner_gpu(host, entry, partitions):
    capabilities = entry["capabilities"]
    return {
        "host": host,
        "index": entry["index"],
        "uuid": entry["uuid"],
        # gpu_info reports no capabilities when the driver does not know the architecture;
        # the capability table then assumes the newest known one, like the modules do.
        "architecture": capabilities["architecture"] if capabilities else UNKNOWN,
        "profiles": tuple(_gpu_instance_profile(profile) for profile in entry["profiles"]),
        "instances": tuple(_gpu_instance(instance) for instance in entry["gpu_instances"]),
        "fabric_partition": partitions.get(entry["index"]),
        "device": GpuDevice(
            index=entry["index"],
            uuid=entry["uuid"],
            name=entry["name"],
            pci_bus_id=entry["pci_bus_id"],
            pci_device_id=int(entry["pci_device_id"], 16),
            architecture=capabilities["architecture"] if capabilities else None,
            module_id=entry["module_id"],
            minor=entry["minor"],
            memory_mb=entry["memory_mb"],
            mig_current=entry["mig_current"],
            mig_pending=entry["mig_pending"],
        ),
    }


def _placement(value):
    return Placement(value["start"], value["size"])


def _gpu_instance_profile(profile):
    return GpuInstanceProfile(
        profile_id=profile["profile_id"],
        enum=None,  # gpu_info does not return the NVML enum; planning does not need it
        name=profile["name"],
        slice_count=profile["slice_count"],
        instance_count=profile["instance_count"],
        memory_mb=profile["memory_mb"],
        multiprocessor_count=profile["multiprocessor_count"],
        engines=Engines(**profile["engines"]),
        placements=tuple(_placement(placement) for placement in profile["placements"]),
        compute_profiles=tuple(
            ComputeInstanceProfile(
                profile_id=compute["profile_id"],
                name=compute["name"],
                slice_count=compute["slice_count"],
                instance_count=compute["instance_count"],
                multiprocessor_count=compute["multiprocessor_count"],
                placements=tuple(_placement(placement) for placement in compute["placements"]),
                is_default=compute["is_default"],
            )
            for compute in profile["compute_profiles"]
        ),
    )


def _gpu_instance(instance):
    return GpuInstance(
        gi_id=instance["gi_id"],
        profile_id=instance["profile_id"],
        placement=_placement(instance["placement"]),
        compute_instances=tuple(
            ComputeInstance(
                ci_id=compute["ci_id"],
                profile_id=compute["profile_id"],
                placement=_placement(compute["placement"]),
                mig_uuid=compute["mig_uuid"],
                processes=tuple(compute["processes"]),
            )
            for compute in instance["compute_instances"]
        ),
        processes=tuple(instance["processes"]),
    )


def mig_plan(fleet, demand, strategy="best-fit", sharing_strategy="none"):
    """mig_plan's result for a fleet and a demand list (see the module's RETURN)."""
    gpus = planner_gpus(fleet)
    # Options the user left out arrive as None from Ansible's sub-option parsing.
    demand = [dict((key, value) for key, value in item.items() if value is not None) if isinstance(item, dict) else item for item in demand]
    result = plan_fleet(gpus, demand, strategy, sharing_strategy)
    devices = dict(((gpu["host"], gpu["index"]), gpu["device"]) for gpu in gpus)

    plan, layouts = {}, {}
    for gpu in result["gpus"]:
        layout = [{"profile": item["profile"], "placement": dict(item["placement"])} for item in gpu["layout"]]
        plan.setdefault(gpu["host"], {})[str(gpu["index"])] = layout
        counts = {}
        for item in gpu["layout"]:
            counts[item["profile"]] = counts.get(item["profile"], 0) + 1
        layouts.setdefault(gpu["host"], []).append((devices[(gpu["host"], gpu["index"])], counts))

    unplaced = [dict(item, item=demand[item["demand"]]) for item in result["unplaced"]]
    kept = sum(1 for gpu in result["gpus"] for item in gpu["layout"] if item["existing"] is not None)
    demanded = sum(item.get("count", 1) for item in demand)
    return {
        "changed": False,
        "strategy": result["strategy"],
        "plan": plan,
        "gpus": result["gpus"],
        "excluded": result["excluded"],
        "unplaced": unplaced,
        "mig_parted_config": dict((host, render(current, PLANNED_CONFIG)) for host, current in layouts.items()),
        "summary": {
            "hosts": len(fleet),
            "gpus": len(gpus),
            "gpus_planned": len(result["gpus"]),
            "gpus_excluded": len(result["excluded"]),
            "gpus_used": sum(1 for gpu in result["gpus"] if gpu["layout"]),
            "gpus_changed": sum(1 for gpu in result["gpus"] if gpu["changed"]),
            "demanded": demanded,
            "placed": demanded - sum(item["count"] for item in unplaced),
            "new": result["placed"],
            "kept": kept,
            "removed": sum(len(gpu["remove"]) for gpu in result["gpus"]),
            "unplaced": sum(item["count"] for item in unplaced),
        },
    }

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The read-only inventory ``gpu_info`` returns, built from ``_nvml.Hardware``.

Everything here is JSON-ready data (dicts, lists, strings, numbers), because it travels
as a module result and is consumed by playbooks and by ``mig_plan`` (``fleet``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ._capabilities import architecture_name, capabilities_for, deployment_mode
from ._fabric import fabric_inventory
from ._migparted import format_device_id, render
from ._profiles import mig_profile_name


def inventory(hardware, gpus, fabric=True):
    """gpu_info's result for the selected ``gpus`` (GpuDevice list) of ``hardware``."""
    entries = [gpu_entry(hardware, gpu) for gpu in gpus]
    layouts = [(gpu, layout_of(entry)) for gpu, entry in zip(gpus, entries) if gpu.mig_current is not None]
    result = {
        "driver_version": hardware.driver_version(),
        "deployment_mode": deployment_mode([entry["virtualization_mode"] for entry in entries]),
        "gpus": entries,
        "mig_parted_config": render(layouts),
    }
    if fabric:
        # Lost GPUs outside the selection must not fail gpu_info: they stay unmapped here.
        result["fabric"] = fabric_inventory(hardware.healthy_devices(), simulator=hardware.simulator)
    return result


def layout_of(entry):
    """{MIG device profile name: count} of a GPU entry, or None when MIG is off."""
    if not entry["mig_current"]:
        return None
    counts = {}
    for device in entry["mig_devices"]:
        counts[device["profile"]] = counts.get(device["profile"], 0) + 1
    return counts


def _placement(placement):
    return {"start": placement.start, "size": placement.size}


def gpu_entry(hardware, gpu):
    """One GPU of the inventory."""
    entry = {
        "index": gpu.index,
        "uuid": gpu.uuid,
        "name": gpu.name,
        "pci_bus_id": gpu.pci_bus_id,
        "pci_device_id": format_device_id(gpu.pci_device_id),
        "architecture": architecture_name(gpu.architecture),
        "capabilities": None,
        "module_id": gpu.module_id,
        "minor": gpu.minor,
        "memory_mb": gpu.memory_mb,
        "mig_capable": gpu.mig_current is not None,
        "mig_current": gpu.mig_current,
        "mig_pending": gpu.mig_pending,
        "virtualization_mode": hardware.virtualization_mode(gpu.index),
        "persistence_mode": hardware.persistence_mode(gpu.index),
        "fabric_info": hardware.fabric_info(gpu.index),
        "profiles": [],
        "gpu_instances": [],
        "mig_devices": [],
        "processes": [process._asdict() for process in hardware.processes(gpu.index)],
    }
    if gpu.architecture is not None:
        entry["capabilities"] = dict(capabilities_for(gpu.architecture)._asdict())
    if not entry["mig_capable"]:
        return entry
    profiles = hardware.gpu_instance_profiles(gpu.index)
    by_id = dict((profile.profile_id, profile) for profile in profiles)
    entry["profiles"] = [_profile_entry(hardware, gpu, profile) for profile in profiles]
    entry["gpu_instances"] = [
        _gpu_instance_entry(instance, by_id[instance.profile_id]) for instance in hardware.gpu_instances(gpu.index)
    ]
    entry["mig_devices"] = [
        {
            "mig_index": device.mig_index,
            "uuid": device.uuid,
            "gi_id": device.gi_id,
            "ci_id": device.ci_id,
            "profile": device.profile_name,
            "memory_mb": device.memory_mb,
        }
        for device in hardware.mig_devices(gpu.index)
    ]
    return entry


def _profile_entry(hardware, gpu, profile):
    return {
        "profile_id": profile.profile_id,
        "name": profile.name,
        "slice_count": profile.slice_count,
        "instance_count": profile.instance_count,
        "memory_mb": profile.memory_mb,
        "multiprocessor_count": profile.multiprocessor_count,
        "engines": dict(profile.engines._asdict()),
        "placements": [_placement(placement) for placement in profile.placements],
        # NVML answers an empty GPU's counts while MIG is disabled; none can be created then.
        "remaining_capacity": hardware.remaining_capacity(gpu.index, profile.profile_id) if gpu.mig_current else None,
        "compute_profiles": [
            {
                "profile_id": compute.profile_id,
                "name": compute.name,
                "slice_count": compute.slice_count,
                "instance_count": compute.instance_count,
                "multiprocessor_count": compute.multiprocessor_count,
                "placements": [_placement(placement) for placement in compute.placements],
                "is_default": compute.is_default,
            }
            for compute in profile.compute_profiles
        ],
    }


def _gpu_instance_entry(instance, profile):
    return {
        "gi_id": instance.gi_id,
        "profile_id": instance.profile_id,
        "profile": profile.name,
        "placement": _placement(instance.placement),
        "processes": list(instance.processes),
        "compute_instances": [
            {
                "ci_id": compute.ci_id,
                "profile_id": compute.profile_id,
                "profile": mig_profile_name(profile, compute.placement.size),
                "placement": _placement(compute.placement),
                "mig_uuid": compute.mig_uuid,
                "processes": list(compute.processes),
            }
            for compute in instance.compute_instances
        ],
    }

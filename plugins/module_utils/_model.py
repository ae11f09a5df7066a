# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain data types shared by every layer of the core.

The NVML access layer (``_nvml``) builds these from what the device reports; the pure
logic (``_profiles``, ``_capabilities``, ``_placement``, ``_cdi``, ...) only ever sees
these types, never NVML handles, so it can be unit tested without hardware and without
the simulator.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

#: (start, size) in memory-slot units of the board's placement grid (8 on most boards,
#: 12 on RTX PRO 6000). For compute instances: compute-slice units inside the GI.
Placement = namedtuple("Placement", ["start", "size"])

#: Engine counts as NVML reports them for a GPU-instance profile (or shared engines of a
#: compute-instance profile).
Engines = namedtuple("Engines", ["copy", "decoder", "encoder", "jpeg", "ofa"])

ComputeInstanceProfile = namedtuple(
    "ComputeInstanceProfile",
    [
        "profile_id",  # NVML CI profile id (equals the enum, e.g. 0 = 1c, 7 = 1c REV1)
        "name",  # canonical name, e.g. "1c.3g.20gb" or "3g.20gb" for the full-GI CI
        "slice_count",  # compute slices (C)
        "instance_count",  # max instances of this CI profile inside one GI
        "multiprocessor_count",
        "placements",  # tuple of Placement, may be empty when the driver does not list them
        "is_default",  # the CI that `nvidia-smi mig -cgi ... -C` creates
    ],
)

GpuInstanceProfile = namedtuple(
    "GpuInstanceProfile",
    [
        "profile_id",  # info.id: what create/placements/remaining-capacity take
        "enum",  # NVML_GPU_INSTANCE_PROFILE_* constant it was found under
        "name",  # canonical name without the "MIG " prefix, e.g. "1g.10gb+me"
        "slice_count",  # compute slices (G)
        "instance_count",  # max instances of this profile on one GPU
        "memory_mb",
        "multiprocessor_count",
        "engines",  # Engines
        "placements",  # tuple of Placement, in the order NVML lists them
        "compute_profiles",  # tuple of ComputeInstanceProfile
    ],
)

ComputeInstance = namedtuple(
    "ComputeInstance",
    [
        "ci_id",
        "profile_id",
        "placement",  # Placement in compute slices
        "mig_uuid",  # UUID of the MIG device this CI forms ("MIG-...")
        "processes",  # tuple of pids running on this MIG device
    ],
)

GpuInstance = namedtuple(
    "GpuInstance",
    [
        "gi_id",
        "profile_id",
        "placement",  # Placement in memory slots
        "compute_instances",  # tuple of ComputeInstance
        "processes",  # tuple of pids on the GI (including those on its CIs)
    ],
)

GpuDevice = namedtuple(
    "GpuDevice",
    [
        "index",
        "uuid",
        "name",
        "pci_bus_id",  # "00000000:07:00.0"
        "pci_device_id",  # 0x233010DE as NVML reports it (device << 16 | vendor)
        "architecture",  # NVML_DEVICE_ARCH_* integer
        "module_id",  # NVML module id (= Fabric Manager physical id on Hopper and later)
        "minor",  # /dev/nvidia<minor>
        "memory_mb",
        "mig_current",  # True/False, or None when the board is not MIG capable
        "mig_pending",
    ],
)

#: A MIG device as CUDA and container runtimes see it (one per compute instance).
MigDevice = namedtuple(
    "MigDevice",
    [
        "gpu_index",
        "mig_index",  # dense index 0..n-1 on the parent (nvmlDeviceGetMigDeviceHandleByIndex)
        "uuid",
        "gi_id",
        "ci_id",
        "profile_name",  # e.g. "1g.10gb" or "1c.3g.40gb"
        "memory_mb",
    ],
)


def bus_id_key(bus_id):
    """(domain, bus, device, function) of "00000000:07:00.0", "0000:07:00.0" or "07:00.0"."""
    parts = bus_id.replace(".", ":").split(":")
    if len(parts) == 3:
        parts.insert(0, "0")
    if len(parts) != 4:
        return None
    try:
        return tuple(int(part, 16) for part in parts)
    except ValueError:
        return None


def format_pci(key):
    return "%04x:%02x:%02x.%x" % key

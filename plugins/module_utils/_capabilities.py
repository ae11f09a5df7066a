# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a GPU architecture can do, named by capability and keyed on NVML architecture ids.

Everything architecture dependent in the collection asks this table instead of testing
for an architecture name, so supporting a new architecture is a data change: add a row
to ``_ROWS`` (and its constant to ``ARCHITECTURE_NAMES``).

Lookup rules of :func:`capabilities_for`:

* a known MIG architecture (Ampere 7, Hopper 9, Blackwell 10) returns its row;
* any architecture older than the oldest MIG architecture, and Ada (8), returns the
  "no MIG" row (every capability False);
* an architecture newer than the newest known row (Rubin 13, a future id, or NVML's
  ``UNKNOWN`` 0xffffffff, which a driver reports for an architecture it predates) is
  treated like the newest known row; ``assumed_from`` then names that row so callers
  can warn. The device's own answers (``nvmlDeviceGetMigMode`` returning NOT_SUPPORTED,
  the profile list) still win over this assumption.

Sources: reference/mig-profiles.md §1.3 (architecture constants) and §7 (reset on
Ampere), reference/fabric-manager-and-cdi.md "MIG interaction" and "Physical ID
semantics" (partitions vs MIG, module ids).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

# NVML_DEVICE_ARCH_* (nvml.h). 11 and 12 are not defined by NVML.
KEPLER = 2
MAXWELL = 3
PASCAL = 4
VOLTA = 5
TURING = 6
AMPERE = 7
ADA = 8
HOPPER = 9
BLACKWELL = 10
RUBIN = 13
UNKNOWN = 0xFFFFFFFF

ARCHITECTURE_NAMES = {
    KEPLER: "kepler",
    MAXWELL: "maxwell",
    PASCAL: "pascal",
    VOLTA: "volta",
    TURING: "turing",
    AMPERE: "ampere",
    ADA: "ada",
    HOPPER: "hopper",
    BLACKWELL: "blackwell",
    RUBIN: "rubin",
    UNKNOWN: "unknown",
}

Capabilities = namedtuple(
    "Capabilities",
    [
        "architecture",  # the NVML architecture id asked for
        "name",  # architecture_name(architecture)
        "mig_supported",
        # Enabling/disabling MIG only takes effect after a GPU reset (Ampere); on Hopper
        # and later the new mode becomes current without one.
        "mig_mode_change_requires_reset",
        # A MIG-enabled GPU may be part of an activated multi-GPU NVSwitch partition
        # (Hopper+); on Ampere activating such a partition fails and Fabric Manager drops
        # partitions with MIG GPUs it sees at start-up.
        "mig_allowed_in_multi_gpu_partitions",
        # NVLinks stay trained while MIG is enabled (Hopper+); Ampere trains them off.
        "nvlinks_active_in_mig_mode",
        # Fabric Manager's "GPU physical id" equals the NVML module id (Hopper+), so
        # partitions map to GPUs through nvmlDeviceGetModuleId.
        "fabric_partition_ids_are_module_ids",
        # Media-engine profile suffixes this architecture may offer. Informative only:
        # a given board offers what its profile list says (B200 has "+me" only).
        "media_engine_profile_variants",
        # Requirement-based selection: prefer single-slice profiles on hosts that use
        # fabric partitions (keeps GPUs of one partition uniform and small).
        "prefers_single_slice_with_fabric",
        # Requirement-based selection without that preference: (min, max) compute
        # slices preferred for balance, or None for no preference.
        "preferred_slice_range",
        # Name of the row this one was copied from for an unknown newer architecture.
        "assumed_from",
    ],
)

_NO_MIG = dict(
    mig_supported=False,
    mig_mode_change_requires_reset=False,
    mig_allowed_in_multi_gpu_partitions=False,
    nvlinks_active_in_mig_mode=False,
    fabric_partition_ids_are_module_ids=False,
    media_engine_profile_variants=(),
    prefers_single_slice_with_fabric=False,
    preferred_slice_range=None,
)

# One row per MIG architecture, oldest first. Adding an architecture = adding a row.
_ROWS = (
    (
        AMPERE,
        dict(
            mig_supported=True,
            mig_mode_change_requires_reset=True,
            mig_allowed_in_multi_gpu_partitions=False,
            nvlinks_active_in_mig_mode=False,
            fabric_partition_ids_are_module_ids=False,
            media_engine_profile_variants=("+me",),
            prefers_single_slice_with_fabric=False,
            preferred_slice_range=(2, 4),
        ),
    ),
    (
        HOPPER,
        dict(
            mig_supported=True,
            mig_mode_change_requires_reset=False,
            mig_allowed_in_multi_gpu_partitions=True,
            nvlinks_active_in_mig_mode=True,
            fabric_partition_ids_are_module_ids=True,
            media_engine_profile_variants=("+me",),
            prefers_single_slice_with_fabric=True,
            preferred_slice_range=None,
        ),
    ),
    (
        BLACKWELL,
        dict(
            mig_supported=True,
            mig_mode_change_requires_reset=False,
            mig_allowed_in_multi_gpu_partitions=True,
            nvlinks_active_in_mig_mode=True,
            fabric_partition_ids_are_module_ids=True,
            media_engine_profile_variants=("+me", "+me.all", "-me"),
            prefers_single_slice_with_fabric=True,
            preferred_slice_range=None,
        ),
    ),
)


def architecture_name(architecture):
    """Lowercase name of an NVML architecture id ("hopper"), or "arch<N>" if NVML has none."""
    try:
        architecture = int(architecture)
    except (TypeError, ValueError):
        return "unknown"
    return ARCHITECTURE_NAMES.get(architecture, "arch%d" % architecture)


def capabilities_for(architecture):
    """Capabilities of an NVML architecture id (see the module docstring for the rules)."""
    architecture = int(architecture)
    name = architecture_name(architecture)
    rows = dict(_ROWS)
    newest = _ROWS[-1][0]
    if architecture in rows:
        return Capabilities(architecture=architecture, name=name, assumed_from=None, **rows[architecture])
    if architecture > newest:
        return Capabilities(
            architecture=architecture, name=name, assumed_from=architecture_name(newest), **rows[newest]
        )
    return Capabilities(architecture=architecture, name=name, assumed_from=None, **_NO_MIG)


# -- deployment: what the GPU says about the machine it is in ---------------------------

#: NVML_GPU_VIRTUALIZATION_MODE_* (nvml.h) by the names gpu_info reports.
VIRTUALIZATION_MODES = {
    "none": 0,  # bare metal
    "passthrough": 1,  # the whole GPU passed through to this VM
    "vgpu_guest": 2,  # a vGPU inside a guest VM
    "vgpu_host": 3,  # hypervisor with the vGPU manager
    "vsga_host": 4,  # hypervisor with vSGA
}
VIRTUALIZATION_MODE_NAMES = dict((value, name) for name, value in VIRTUALIZATION_MODES.items())

#: Guests whose hypervisor owns the GPU's reset: a guest-initiated reset is commonly refused
#: (mig-parted answers that with its reboot hook).
_RESET_OWNED_BY_HYPERVISOR = ("passthrough", "vgpu_guest")


def virtualization_mode_name(value):
    """gpu_info's name of an NVML virtualization mode value ("mode<N>" for a new value)."""
    return VIRTUALIZATION_MODE_NAMES.get(value, "mode%d" % value)


def attempt_reset_by_default(virtualization_mode):
    """Whether ``reset: auto`` should try a GPU reset on a GPU in ``virtualization_mode``
    (a name of VIRTUALIZATION_MODES, or None when the GPU does not say).

    False in a passthrough or vGPU guest: report ``reboot_required`` instead and leave the
    reset to the user (``reset: always``). True elsewhere, including an unknown mode."""
    return virtualization_mode not in _RESET_OWNED_BY_HYPERVISOR


#: gpu_info's host-level deployment mode for each virtualization mode its GPUs report.
_DEPLOYMENT_MODES = {
    "none": "bare_metal",
    "passthrough": "passthrough_guest",
    "vgpu_guest": "vgpu_guest",
    "vgpu_host": "vgpu_host",
    "vsga_host": "vsga_host",
}


def deployment_mode(virtualization_modes):
    """The host's deployment mode from its GPUs' virtualization modes: the one they share
    (bare_metal, passthrough_guest, vgpu_guest, vgpu_host, ...), "mixed" when they differ,
    None when no GPU says."""
    said = set(mode for mode in virtualization_modes if mode is not None)
    if not said:
        return None
    if len(said) > 1:
        return "mixed"
    mode = said.pop()
    return _DEPLOYMENT_MODES.get(mode, mode)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options every module of gpuops.mig takes (see plugins/module_utils/_module.py)."""

    DOCUMENTATION = r"""
options:
  simulator:
    description:
      - Path of a simulated host's state file (see M(gpuops.mig.simulated_host)).
      - When set, the module talks to that simulated host instead of the GPUs of the
        managed host; the real NVML path is still exercised, with the simulated library
        beneath the C(pynvml) bindings.
      - When unset, the environment variable E(GPUOPS_MIG_SIMULATOR) on the managed host is
        used; when that is unset too, the module uses the real NVIDIA driver. A simulator
        is never picked up implicitly.
    type: path
  feature_gates:
    description:
      - Switches for optional behaviour, as gate name mapped to V(true) or V(false).
      - V(AutoEnableMig) (default V(false)) lets M(gpuops.mig.mig_instance) enable MIG mode
        itself on GPUs where that needs no GPU reset.
      - V(ParallelReconfigure) (default V(true)) reconfigures the selected GPUs of a host in
        parallel.
      - V(FabricAwarePlacement) (default V(false)) chooses MIG placements with the
        NVSwitch fabric partitions in mind.
      - V(MigInFabricPartitions) (default V(true)) allows MIG instances on GPUs of an
        active fabric partition (Hopper and later only).
      - An unknown gate name fails the module and lists the known gates. Results report
        the effective value of every gate in C(feature_gates).
    type: dict
    default: {}
  gpus:
    description:
      - GPUs to act on, each given as index (V(0)), GPU UUID (V(GPU-...)) or PCI bus id
        (V(00000000:07:00.0), case-insensitive, the short form V(07:00.0) is accepted).
      - Default is every GPU of the host (after O(device_filter)).
      - An entry that matches no GPU fails the module and lists the GPUs that exist.
    type: list
    elements: str
  device_filter:
    description:
      - Only act on GPUs whose PCI device id is in this list, written as mig-parted
        writes them (V(0x233010DE), case-insensitive).
      - Combined with O(gpus), a GPU must match both.
    type: list
    elements: str
notes:
  - All options of this fragment belong to the action group C(gpuops.mig.mig), so
    C(module_defaults) with C(group/gpuops.mig.mig) can set them once for a play.
requirements:
  - nvidia-ml-py 12.535 or later (the official NVML bindings, C(import pynvml)) on the managed host, or
    in C(/opt/gpuops-mig/lib) where the C(gpuops.mig.mig) role places it from a wheel (C(mig_nvml_wheel)).
"""

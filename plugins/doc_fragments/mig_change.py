# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Options of the modules that change MIG state (plugins/module_utils/_converge.py
    CHANGE_OPTIONS): GPU resets, GPU client services and the CDI spec refresh."""

    DOCUMENTATION = r"""
options:
  reset:
    description:
      - GPU resets for MIG mode changes that wait for one (Ampere, or a GPU that was busy
        when the mode was requested).
      - V(auto) and V(always) reset exactly the GPUs whose change is pending, never every
        GPU of the host; V(never) leaves them for the next reboot and reports
        RV(reboot_required).
    type: str
    default: auto
    choices: [auto, always, never]
  gpu_clients:
    description:
      - systemd units that use the GPUs (for example V(nvidia-dcgm), a Kubernetes device
        plugin). Those that are active are stopped before the first change and started
        again afterwards, also when the change fails; inactive ones are left alone, and a
        run that changes nothing stops nothing.
    type: list
    elements: str
    default: []
  cdi_spec:
    description:
      - Keep a CDI spec listing exactly the devices that exist after the run (the options of
        M(gpuops.mig.cdi_spec)). Omit to leave CDI specs alone.
    type: dict
    version_added: 1.1.0
    suboptions:
      path:
        description: Spec file; default the host's C(/var/run/cdi/nvidia.yaml) (under the
          simulated host's root for a simulated host with simulated host files).
        type: path
      kind:
        description: The device kind.
        type: str
        default: nvidia.com/gpu
      device_name_strategies:
        description: How devices are named (see M(gpuops.mig.cdi_spec)).
        type: list
        elements: str
        default: [index, uuid]
      mode:
        description: File mode of the spec.
        type: raw
        default: "0644"
      driver_root:
        description: Where the driver's files are (see M(gpuops.mig.cdi_spec)); default the host's own.
        type: path
      hooks:
        description: V(auto) adds the NVIDIA container toolkit's hooks where a hook binary exists; V(none) never.
        type: str
        choices: [auto, none]
        default: auto
      hook_path:
        description: The C(nvidia-cdi-hook) or C(nvidia-ctk) binary to use in the hooks.
        type: path
"""

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mig_mode
short_description: Enable or disable NVIDIA MIG mode on GPUs
version_added: 1.0.0
description:
  - Brings MIG mode of the selected GPUs (O(gpus), O(device_filter)) to O(state).
  - On architectures that apply the change at once (Hopper and later) no GPU is reset. On
    Ampere the new mode stays pending until the GPU is reset; with O(reset=auto) the
    module resets exactly the GPUs whose change is pending, never every GPU of the host.
  - While it changes MIG mode the module stops the active services named in
    O(gpu_clients) and starts them again afterwards, also when the change fails.
  - Where the host cannot reset a GPU (a VM with the GPU passed through) or with
    O(reset=never), the result is RV(reboot_required=true) with the pending GPUs in
    RV(pending_gpus); the task reports a change and does not fail. With the default
    O(reset=auto) a GPU that reports itself as a passthrough or vGPU guest
    (C(nvmlDeviceGetVirtualizationMode)) is not reset at all (hypervisors usually refuse
    it, and mig-parted answers it with a reboot); O(reset=always) tries.
  - Runs hold a host-wide lock, so concurrent runs of this module and
    M(gpuops.mig.mig_instance) on one host take turns. A run of M(gpuops.mig.mig_instance)
    that was interrupted (killed, connection lost) is rolled back first
    (RV(recovered=true)).
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
  - gpuops.mig.mig_change
options:
  state:
    description:
      - V(enabled) enables MIG mode, V(disabled) disables it.
      - Disabling fails while the GPU has MIG instances, naming them, unless O(force=true).
    type: str
    required: true
    choices: [enabled, disabled]
  force:
    description:
      - When disabling MIG, destroy the GPU's MIG instances first, including instances that
        run processes. NVML still refuses to destroy an instance a process holds; stop
        the process (or its service, see O(gpu_clients)) first.
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for the host lock another gpuops.mig run holds; the failure names
        the pid of the holder. The lock is C(/run/gpuops-mig.lock) (next to the state
        file for a simulated host); a holder that died does not block.
    type: float
    default: 60
attributes:
  check_mode:
    description: Reports the actions it would take and the resulting modes.
    support: full
  diff_mode:
    description: Shows current and pending MIG mode per GPU before and after.
    support: full
notes:
  - In check mode a pending change of an Ampere GPU is predicted to be applied by a reset
    (O(reset=auto)); whether the host can reset the GPU shows only in a real run.
  - GPU resets run one after the other; the MIG mode requests themselves run in
    parallel (feature gate V(ParallelReconfigure)).
seealso:
  - module: gpuops.mig.mig_instance
  - module: gpuops.mig.gpu_info
"""

EXAMPLES = r"""
- name: Enable MIG on every GPU, resetting the ones that need it
  gpuops.mig.mig_mode:
    state: enabled
    gpu_clients:
      - nvidia-dcgm
      - nvidia-k8s-device-plugin
  register: mig

- name: Reboot when a GPU could not be reset (passthrough VM)
  ansible.builtin.reboot:
  when: mig.reboot_required

- name: Enable MIG on the H100s only, never resetting
  gpuops.mig.mig_mode:
    state: enabled
    device_filter: ["0x233010DE"]
    reset: never

- name: Disable MIG on GPU 3, destroying its instances
  gpuops.mig.mig_mode:
    state: disabled
    gpus: [3]
    force: true
"""

RETURN = r"""
gpus:
  description: The selected GPUs after the run.
  returned: always
  type: list
  elements: dict
  contains:
    index:
      description: NVML index.
      type: int
    uuid:
      description: GPU UUID.
      type: str
    name:
      description: Product name.
      type: str
    pci_bus_id:
      description: PCI bus id.
      type: str
    architecture:
      description: Architecture name (C(ampere), C(hopper), C(blackwell), ...).
      type: str
    mig:
      description: MIG mode now, C(current) and C(pending) (booleans).
      type: dict
    reset:
      description: Whether this run reset the GPU.
      type: bool
    reboot_required:
      description: Whether the GPU's change waits for a reboot.
      type: bool
  sample:
    - index: 0
      uuid: GPU-5a1c9f4e-1b2c-4d3e-8f9a-0b1c2d3e4f50
      name: NVIDIA A100-SXM4-40GB
      pci_bus_id: "00000000:07:00.0"
      architecture: ampere
      mig: {current: true, pending: true}
      reset: true
      reboot_required: false
reboot_required:
  description: Whether any selected GPU still has a pending MIG mode change.
  returned: always
  type: bool
pending_gpus:
  description: Indexes of the GPUs whose change waits for a reboot.
  returned: always
  type: list
  elements: int
actions:
  description: >-
    What was done (or, in check mode, would be done), in order: C(stop_unit),
    C(destroy_compute_instance), C(destroy_gpu_instance), C(set_mig_mode) (with
    C(activation_status) when NVML left the change pending), C(reset_gpu) (with C(refused)
    and the NVML error when the host refused the reset), C(start_unit);
    plus the steps that rolled back an interrupted M(gpuops.mig.mig_instance) run.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: set_mig_mode, gpu: 0, enabled: true}
    - {action: reset_gpu, gpu: 0}
recovered:
  description: Whether the run found and settled the journal of an interrupted run.
  returned: always
  type: bool
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
backend:
  description: C(nvml) or C(simulator).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._converge import CHANGE_OPTIONS, mig_mode
from ansible_collections.gpuops.mig.plugins.module_utils._lock import DEFAULT_LOCK_TIMEOUT


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            state=dict(type="str", required=True, choices=["enabled", "disabled"]),
            force=dict(type="bool", default=False),
            lock_timeout=dict(type="float", default=DEFAULT_LOCK_TIMEOUT),
            **CHANGE_OPTIONS
        ),
        supports_check_mode=True,
    )
    run_module(module, mig_mode, hardware=Hardware)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: gpu_info
short_description: Inventory of NVIDIA GPUs, their MIG state and the NVSwitch fabric
version_added: 1.0.0
description:
  - Reads, never changes, the GPUs of the managed host (or of a simulated host) through
    NVML.
  - Returns per GPU its identity (index, UUID, PCI bus and device id, module id, minor),
    architecture and what it can do, MIG mode (current and pending), GPU instances with
    their placements and compute instances, MIG devices, the GPU-instance profiles it
    offers with their possible placements and remaining capacity, its compute
    processes, and what the GPU says about the machine it is in (virtualization mode,
    persistence mode, NVLink fabric probe).
  - Returns the current layout as a mig-parted v1 configuration, and the NVSwitch fabric
    state as Fabric Manager reports it.
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
options:
  fabric:
    description:
      - Ask Fabric Manager for the NVSwitch fabric state (RV(fabric)).
      - Hosts without NVSwitch or Fabric Manager report C(available=false), they
        do not fail.
    type: bool
    default: true
attributes:
  check_mode:
    description: The module never changes anything; check mode returns the same result.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - The compute-instance profiles of a GPU-instance profile can only be read through an
    existing GPU instance of that profile (an NVML limitation), so the C(compute_profiles)
    of RV(gpus) are empty for profiles without a GPU instance on that board.
  - RV(mig_parted_config) counts MIG devices (compute instances) by profile name; GPU
    instances without any compute instance do not appear in it, and GPUs that are not MIG
    capable are left out.
seealso:
  - module: gpuops.mig.simulated_host
  - module: gpuops.mig.mig_instance
"""

EXAMPLES = r"""
- name: Read the GPUs of the host
  gpuops.mig.gpu_info:
  register: gpu_inventory

- name: Read two GPUs of a simulated host, without asking Fabric Manager
  gpuops.mig.gpu_info:
    simulator: /var/tmp/dgx-h100.json
    gpus: [0, "00000000:2A:00.0"]
    fabric: false
  register: gpu_inventory

- name: Show which GPUs have MIG enabled
  ansible.builtin.debug:
    msg: "{{ gpu_inventory.gpus | selectattr('mig_current') | map(attribute='index') | list }}"

- name: Stop where the GPUs say this is not the deployment the inventory group expects
  ansible.builtin.assert:
    that: gpu_inventory.deployment_mode == 'bare_metal'
    fail_msg: "the GPUs report {{ gpu_inventory.deployment_mode }}, not bare metal"

- name: Save the current layout as a mig-parted config
  ansible.builtin.copy:
    content: "{{ gpu_inventory.mig_parted_config | to_nice_yaml }}"
    dest: /etc/nvidia-mig-manager/current.yaml
    mode: "0644"
"""

RETURN = r"""
backend:
  description: C(nvml) for the real driver, C(simulator) for a simulated host.
  returned: always
  type: str
  sample: simulator
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
  sample: {"AutoEnableMig": false, "FabricAwarePlacement": false, "MigInFabricPartitions": true, "ParallelReconfigure": true}
driver_version:
  description: NVIDIA driver version.
  returned: success
  type: str
  sample: "570.172.08"
deployment_mode:
  description:
    - The host's deployment as its selected GPUs report it (the RV(gpus[].virtualization_mode)
      they share), C(bare_metal), C(passthrough_guest) (a VM that owns whole GPUs),
      C(vgpu_guest), C(vgpu_host) (a vGPU hypervisor), C(vsga_host); C(mixed) when the GPUs
      disagree; V(null) when none says.
  returned: success
  type: str
  sample: passthrough_guest
gpus:
  description: The selected GPUs, in NVML index order.
  returned: success
  type: list
  elements: dict
  contains:
    index:
      description: NVML index.
      type: int
      sample: 0
    uuid:
      description: GPU UUID.
      type: str
      sample: GPU-5f1c0a52-9c3b-4c4e-8f0e-2d1b7c3a9e10
    name:
      description: Product name.
      type: str
      sample: NVIDIA H100 80GB HBM3
    pci_bus_id:
      description: PCI bus id as NVML writes it.
      type: str
      sample: "00000000:18:00.0"
    pci_device_id:
      description: PCI device and vendor id as mig-parted writes it (for O(device_filter)).
      type: str
      sample: "0x233010DE"
    architecture:
      description: Architecture name (C(ampere), C(hopper), C(blackwell), ...).
      type: str
      sample: hopper
    capabilities:
      description:
        - What the architecture can do, by capability (for example C(mig_supported),
          C(mig_mode_change_requires_reset), C(mig_allowed_in_multi_gpu_partitions)).
        - V(null) when the driver does not report the architecture.
      type: dict
    module_id:
      description: NVML module id (the Fabric Manager GPU physical id on Hopper and later); V(null) where not supported.
      type: int
      sample: 1
    minor:
      description: Minor number of C(/dev/nvidia<minor>).
      type: int
      sample: 0
    memory_mb:
      description: Total framebuffer memory in MiB.
      type: int
      sample: 81559
    mig_capable:
      description: Whether the GPU supports MIG (NVML answers its MIG mode).
      type: bool
    mig_current:
      description: MIG mode in effect; V(null) when the GPU is not MIG capable.
      type: bool
    mig_pending:
      description: MIG mode after the next GPU reset or activation; V(null) when not MIG capable.
      type: bool
    virtualization_mode:
      description:
        - What the GPU says about virtualization (C(nvmlDeviceGetVirtualizationMode)),
          one of C(none) (bare metal), C(passthrough) (the whole GPU is passed through to this VM),
          C(vgpu_guest), C(vgpu_host), C(vsga_host); V(null) where the driver does not say.
        - In a passthrough guest the hypervisor usually owns the GPU reset, so MIG mode
          changes that need one wait for a reboot.
      type: str
      sample: passthrough
    persistence_mode:
      description: Whether persistence mode is enabled; V(null) where the driver does not say.
      type: bool
      sample: true
    fabric_info:
      description:
        - The GPU's NVLink fabric probe (C(nvmlDeviceGetGpuFabricInfoV)), Hopper and later;
          V(null) where the driver does not answer it (Ampere, older drivers).
        - C(state) is C(not_supported) on a GPU without an NVSwitch fabric, else
          C(not_started), C(in_progress) or C(completed) (Fabric Manager has registered the
          GPU); C(status) the probe's NVML return name; C(clique_id) and C(cluster_uuid)
          once completed (else V(null)); C(health_summary) (C(not_supported), C(healthy),
          C(unhealthy), C(limited_capacity)) and the raw C(health_mask).
      type: dict
      sample: {"state": "not_supported", "status": "NVML_SUCCESS", "clique_id": null, "cluster_uuid": null, "health_summary": "not_supported", "health_mask": 0}
    profiles:
      description:
        - GPU-instance profiles the GPU offers in its current MIG mode (empty when not MIG capable).
        - Each has C(profile_id), C(name), C(slice_count), C(instance_count), C(memory_mb),
          C(multiprocessor_count), C(engines) (C(copy), C(decoder), C(encoder), C(jpeg),
          C(ofa)), C(placements) (list of C(start)/C(size) in memory slots), C(remaining_capacity)
          (V(null) while MIG is disabled) and C(compute_profiles).
      type: list
      elements: dict
    gpu_instances:
      description:
        - GPU instances ordered by placement, each with C(gi_id), C(profile_id), C(profile),
          C(placement), C(processes) (pids) and C(compute_instances) (C(ci_id),
          C(profile_id), C(profile), C(placement) in compute slices, C(mig_uuid), C(processes)).
      type: list
      elements: dict
    mig_devices:
      description: MIG devices in NVML's MIG index order, each with C(mig_index), C(uuid), C(gi_id), C(ci_id), C(profile) and C(memory_mb).
      type: list
      elements: dict
    processes:
      description: Compute processes on the GPU, each with C(pid), C(gi_id), C(ci_id) (V(null) outside MIG) and C(used_memory_mb).
      type: list
      elements: dict
mig_parted_config:
  description:
    - The current layout as a mig-parted v1 document with one config named C(current);
      GPUs with identical layouts share one entry.
  returned: success
  type: dict
  sample:
    version: v1
    mig-configs:
      current:
        - devices: [0, 1]
          mig-enabled: true
          mig-devices: {"1g.10gb": 7}
        - devices: [2, 3, 4, 5, 6, 7]
          mig-enabled: false
          mig-devices: {}
fabric:
  description:
    - NVSwitch fabric state from Fabric Manager. C(available) says whether Fabric Manager
      could be asked (C(reason) says why not); C(mode) is the FABRIC_MODE, C(partitions)
      the partitions with their GPUs and whether they are active.
  returned: when O(fabric=true)
  type: dict
  sample: {"available": false, "reason": "fmLibInit failed: FM_LIBRARY_NOT_FOUND"}
"""

from ansible.module_utils.basic import AnsibleModule

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._inventory import inventory
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(fabric=dict(type="bool", default=True)),
        supports_check_mode=True,
    )
    run_module(
        module,
        lambda session: inventory(session.hardware, session.gpus, fabric=session.params["fabric"]),
        hardware=Hardware,
        lock="shared",
    )


if __name__ == "__main__":
    main()

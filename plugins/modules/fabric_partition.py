#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: fabric_partition
short_description: Activate, deactivate and list NVSwitch fabric partitions through Fabric Manager
version_added: 1.0.0
description:
  - On NVSwitch systems (DGX/HGX A100, H100, H200, B200) in shared NVSwitch or vGPU
    mode, GPUs reach a VM only after NVIDIA Fabric Manager has activated the fabric
    partition that connects them. This module lists those partitions, activates and
    deactivates one, chosen by O(partition_id) or by the GPUs it must connect
    (O(gpus)), and re-declares the activated partitions after a Fabric Manager restart.
  - Idempotent. Activating an active partition is no change. Activating a partition
    that shares GPUs with an active one fails and names that partition, unless
    O(exclusive=true), which deactivates the overlapping partitions first (the plan is
    shown in check mode and diff mode).
  - The Fabric Manager mode is read from C(/usr/share/nvidia/nvswitch/fabricmanager.cfg).
    Bare-metal mode (C(FABRIC_MODE=0)) uses no partitions and fails with a clear message;
    vGPU mode (C(FABRIC_MODE=2)) activates with O(vfs); shared NVSwitch mode
    (C(FABRIC_MODE=1)) without.
  - On Ampere, activating a multi-GPU partition fails while a GPU in it has MIG enabled;
    the module refuses that before asking Fabric Manager and names the GPUs. Hopper and
    later allow MIG there (feature gate V(MigInFabricPartitions)).
  - Partitions are mapped to NVML GPUs by UUID or PCI bus id where Fabric Manager reports
    them (Ampere) and by module id (= Fabric Manager GPU physical id) on Hopper and later,
    where it reports neither.
  - With O(fabric_mode) one call converges the host's whole Fabric Manager (version 1.1.0)
    - it sets C(FABRIC_MODE) and O(settings) in fabricmanager.cfg (other keys and comments
    are kept), restarts O(service) when the configuration changed, starts it when it is
    stopped (it starts afresh, with every partition inactive), and brings every entry of
    O(partitions) to O(state). A host without NVSwitch / Fabric Manager is left alone and
    reported with RV(fabric_manager=false).
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
options:
  fabric_mode:
    description:
      - The Fabric Manager mode of the host - V(bare_metal) (also full passthrough),
        V(shared_nvswitch) or V(vgpu). Switches the module to the whole-host pass (see the
        description), with O(partitions) instead of O(partition_id) or O(gpus).
    type: str
    choices: [bare_metal, shared_nvswitch, vgpu]
    version_added: 1.1.0
  settings:
    description:
      - With O(fabric_mode), further fabricmanager.cfg keys to set (C(KEY) mapped to a value;
        V(null) removes the key). C(FABRIC_MODE) is set by O(fabric_mode).
    type: dict
    default: {}
    version_added: 1.1.0
  partitions:
    description:
      - With O(fabric_mode), the partitions of the host's VMs, each with C(gpus) or
        C(partition_id), an optional C(name) and, in vGPU mode, C(vfs); brought to
        O(state) in order.
    type: list
    elements: dict
    default: []
    version_added: 1.1.0
  service:
    description: With O(fabric_mode), the systemd unit of Fabric Manager, restarted when its configuration changes and started when it is stopped.
    type: str
    default: nvidia-fabricmanager
    version_added: 1.1.0
  config_path:
    description:
      - With O(fabric_mode), the fabricmanager.cfg to manage. Default the host's
        C(/usr/share/nvidia/nvswitch/fabricmanager.cfg) (under the simulated host's root
        for a simulated host with simulated host files).
    type: path
    version_added: 1.1.0
  partition_id:
    description:
      - The Fabric Manager partition id, as V(state=listed) returns it.
      - Partition ids differ between systems (DGX B200 starts at 1, single-baseboard
        DGX A100 uses 1, 7, 8, 11-14, 19-26); O(gpus) avoids knowing them.
      - Mutually exclusive with O(gpus).
    type: int
  gpus:
    description:
      - The GPUs the partition must connect, each as index, GPU UUID or PCI bus id; the
        partition whose GPU set is exactly these is used. On DGX H100 the 2-GPU
        partitions pair module ids 1+3, 2+4, 5+7 and 6+8.
      - An entry that matches no GPU, or a set that no partition connects, fails and lists
        the partitions with their GPUs.
      - Mutually exclusive with O(partition_id).
    type: list
    elements: str
  state:
    description:
      - V(activated) and V(deactivated) bring the partition to that state.
      - V(restored) re-declares O(activated_partitions) to a Fabric Manager restarted in
        resiliency mode (C(FABRIC_MODE_RESTART=1) or C(--restart)), which waits for that
        list before it serves other requests (fmSetActivatedFabricPartitions). When Fabric
        Manager is not waiting and reports exactly that list as active, nothing changes;
        when it reports another list the module fails.
      - V(listed) only reports the partitions (and the one O(partition_id) or O(gpus)
        names, if given).
    type: str
    choices: [activated, deactivated, restored, listed]
    default: activated
  activated_partitions:
    description:
      - With V(state=restored), the ids of every partition that is still in use by VMs. An
        empty list declares that none is.
      - Required with V(state=restored), not allowed otherwise.
    type: list
    elements: int
  vfs:
    description:
      - vGPU mode only, and required there for activation. The PCI addresses
        (V(0000:b3:00.4) or V(b3:00.4)) of the SR-IOV virtual functions handed to the VM,
        one per GPU of the partition.
      - Fabric Manager expects the same order at every activation of a partition; the
        order given is kept.
      - Fabric Manager does not report the VFs of an active partition, so activating an
        active partition with other VFs is no change.
    type: list
    elements: str
  exclusive:
    description:
      - Deactivate active partitions that share GPUs with the one to activate, instead of
        failing. Only deactivate partitions whose VMs are shut down.
    type: bool
    default: false
  fm_address:
    description:
      - Fabric Manager's TCP address, V(host) or V(host:port) (C(FM_CMD_BIND_INTERFACE),
        C(FM_CMD_PORT_NUMBER)), a host name or IPv4 address and a port from 1 to 65535.
        Default V(127.0.0.1:6666). Checked with O(simulator) too.
      - Mutually exclusive with O(fm_unix_socket).
    type: str
  fm_unix_socket:
    description:
      - Absolute path of Fabric Manager's unix socket, when C(FM_CMD_UNIX_SOCKET_PATH) is set.
    type: path
  fm_backend:
    description:
      - How to reach Fabric Manager. V(libnvfm) calls C(libnvfm.so.1) (package
        C(nvidia-fabricmanager-dev) or C(-devel)) through ctypes; V(fmpm) runs the C(fmpm)
        sample CLI (it cannot pass VFs, so vGPU mode needs V(libnvfm)); V(auto) uses
        libnvfm when it loads, else fmpm.
      - With O(simulator) both talk to the simulated Fabric Manager of that host.
    type: str
    choices: [auto, libnvfm, fmpm]
    default: auto
notes:
  - Fabric Manager answers activation and deactivation after reprogramming the NVSwitches;
    shut VMs down before their partition is deactivated.
  - Fabric Manager does not report the VFs of an active partition, and its return codes do
    not distinguish every cause; errors carry the C(FM_ST_*) name and a hint.
attributes:
  check_mode:
    description: Reports the partitions and actions the run would have, without calling a
      changing Fabric Manager function.
    support: full
  diff_mode:
    description: Shows the active partitions before and after.
    support: full
seealso:
  - module: gpuops.mig.gpu_info
"""

EXAMPLES = r"""
- name: Activate the partition that connects GPUs 0 and 2 (shared NVSwitch mode)
  gpuops.mig.fabric_partition:
    gpus: [0, 2]
    state: activated

- name: Activate the 8-GPU partition, deactivating the smaller ones that overlap it
  gpuops.mig.fabric_partition:
    partition_id: 0
    exclusive: true

- name: Activate a vGPU partition with the VFs of its two GPUs, in a fixed order
  gpuops.mig.fabric_partition:
    partition_id: 3
    vfs:
      - "0000:18:00.4"
      - "0000:3a:00.4"

- name: List partitions through fmpm on a unix socket
  gpuops.mig.fabric_partition:
    state: listed
    fm_backend: fmpm
    fm_unix_socket: /run/nvidia-fabricmanager/fm.sock
  register: fabric

- name: After a Fabric Manager restart in resiliency mode, re-declare what VMs still use
  gpuops.mig.fabric_partition:
    state: restored
    activated_partitions: [3, 5]
"""

RETURN = r"""
partitions:
  description: Every partition Fabric Manager supports, as it is after the run (in check
    mode, as it would be). Empty in bare-metal mode.
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Partition id.
      type: int
    active:
      description: Whether the partition is activated.
      type: bool
    physical_ids:
      description: Fabric Manager GPU physical ids (= module ids on Hopper and later).
      type: list
      elements: int
    gpus:
      description: The partition's GPUs with C(physical_id), NVML C(index), C(uuid),
        C(pci_bus_id) (index null where the GPU is not visible), C(nvlinks_available),
        C(max_nvlinks) and C(nvlink_line_rate_mbps).
      type: list
      elements: dict
    nvlinks:
      description: NVLinks available over all GPUs of the partition.
      type: int
  sample:
    - id: 3
      active: true
      physical_ids: [1, 3]
      nvlinks: 36
      gpus:
        - {physical_id: 1, index: 0, uuid: GPU-8c3e..., pci_bus_id: "00000000:18:00.0", nvlinks_available: 18,
           max_nvlinks: 18, nvlink_line_rate_mbps: 25000}
partition:
  description: The partition O(partition_id) or O(gpus) names, after the run (same fields
    as an entry of RV(partitions)).
  returned: when O(partition_id) or O(gpus) is given
  type: dict
actions:
  description: What was done (or would be, in check mode), in order. C(action) is
    C(activate), C(deactivate) or C(set_activated); activations in vGPU mode carry
    C(vfs), C(set_activated) carries C(partition_ids). With O(fabric_mode) also
    C(write_config) (C(path)), C(restart) and C(start) (C(service), C(fabric_mode)).
  returned: success
  type: list
  elements: dict
  sample: [{action: deactivate, partition_id: 3}, {action: activate, partition_id: 0}]
fabric_mode:
  description: Fabric Manager's mode from fabricmanager.cfg, V(bare_metal),
    V(shared_nvswitch) or V(vgpu); null when the file cannot be read.
  returned: success
  type: str
  sample: shared_nvswitch
fm_backend:
  description: How Fabric Manager was reached, V(libnvfm), V(fmpm) or V(simulator).
  returned: success
  type: str
fabric_manager:
  description: With O(fabric_mode), whether the host has Fabric Manager (V(false) - nothing was done).
  returned: with O(fabric_mode)
  type: bool
  version_added: 1.1.0
backend:
  description: The NVML backend used to map partitions to GPUs, V(nvml) or V(simulator).
  returned: success
  type: str
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._fabric import FM_BACKENDS, ensure_partition
from ansible_collections.gpuops.mig.plugins.module_utils._fabric_host import converge_fabric
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            fabric_mode=dict(type="str", choices=["bare_metal", "shared_nvswitch", "vgpu"]),
            settings=dict(type="dict", default={}),
            partitions=dict(type="list", elements="dict", default=[]),
            service=dict(type="str", default="nvidia-fabricmanager"),
            config_path=dict(type="path"),
            partition_id=dict(type="int"),
            state=dict(type="str", choices=["activated", "deactivated", "restored", "listed"], default="activated"),
            activated_partitions=dict(type="list", elements="int"),
            vfs=dict(type="list", elements="str"),
            exclusive=dict(type="bool", default=False),
            fm_address=dict(type="str"),
            fm_unix_socket=dict(type="path"),
            fm_backend=dict(type="str", choices=list(FM_BACKENDS), default="auto"),
        ),
        mutually_exclusive=[("partition_id", "gpus"), ("fm_address", "fm_unix_socket")],
        required_if=[("state", "restored", ("activated_partitions",))],
        supports_check_mode=True,
    )
    run_module(module, converge_fabric if module.params["fabric_mode"] else ensure_partition, hardware=Hardware)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: simulated_host
short_description: Create, alter or remove a simulated NVIDIA GPU host
version_added: 1.0.0
description:
  - Manages a simulated GPU host, one state file (plus a directory of device nodes and
    driver files beside it) that the other modules of the collection talk to when their
    O(simulator) option (or E(GPUOPS_MIG_SIMULATOR)) names it.
  - The simulated host answers through the real C(pynvml) bindings with the simulated
    driver beneath them, behaving like the hardware where its behaviour is known (MIG
    placements per board, capacity, instance ids, MIG mode activation, GPU reset, errors).
  - Use it for tests, molecule scenarios and demos; it never touches real GPUs.
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
options:
  path:
    description:
      - Path of the host's state file. Its device tree is created at I(<path>.root).
        An existing file that is not a simulated host is neither changed nor removed.
      - Defaults to O(simulator) (or E(GPUOPS_MIG_SIMULATOR)); one of them is required.
    type: path
  preset:
    description:
      - What kind of host to simulate. Required to create a host; a host's preset cannot
        change (remove it and create it again).
      - Each preset has the virtualization mode its GPUs report (bare metal, V(a100-passthrough-vm) and
        V(h200-passthrough-vm) full-passthrough VMs, V(hgx-h200-vgpu-host) a vGPU hypervisor).
    type: str
    choices:
      - a100-passthrough-vm
      - a100-pcie-20b1-x2
      - a100-pcie-80gb-x4
      - a100-pcie-x4
      - a30-x4
      - a800-pcie-40gb-x4
      - a800-pcie-80gb-x4
      - b300-x8
      - dgx-a100
      - dgx-a100-80gb
      - dgx-b200
      - dgx-h100
      - gb200-nvl4
      - gb200-nvl4-early-driver
      - gb300-nvl4
      - gh200
      - gh200-144g
      - h100-96gb-x4
      - h100-nvl-x2
      - h100-pcie-x4
      - h20-x8
      - h200-nvl-x4
      - h200-passthrough-vm
      - h800-nvl-x2
      - h800-pcie-x4
      - hgx-a800
      - hgx-h200
      - hgx-h200-vgpu-host
      - hgx-h800
      - pg506-96gb-x4
      - rtx-pro-6000-x4
  state:
    description:
      - V(present) creates the host or changes the given options of an existing one.
      - V(absent) removes the state file and its device tree.
    type: str
    choices: [present, absent]
    default: present
  fabric_mode:
    description:
      - Fabric Manager FABRIC_MODE of a host with NVSwitch, by name or number.
      - V(bare_metal) (V(0)) bare metal or full passthrough, V(shared_nvswitch) (V(1))
        shared NVSwitch multitenancy, V(vgpu) (V(2)) vGPU multitenancy.
      - Changing the mode deactivates every fabric partition, like restarting Fabric
        Manager with a new configuration.
    type: str
    choices: [bare_metal, shared_nvswitch, vgpu, "0", "1", "2"]
  reset_supported:
    description:
      - Whether GPU reset works. V(false) models a passthrough VM, where a MIG mode
        change on Ampere needs a reboot.
      - When the host is created it follows the preset's virtualization mode, V(false) in a
        passthrough or vGPU guest and V(true) elsewhere; set it to override (a hypervisor that
        allows guest resets, or a bare-metal host without a reset path).
    type: bool
  virtualization_mode:
    description:
      - What the GPUs report as their virtualization mode (C(nvmlDeviceGetVirtualizationMode)),
        instead of the preset's - for example V(vgpu_host) for a host that runs the vGPU
        manager (the C(sriov) deployment mode). Set when the host is created, the default of
        O(reset_supported) follows it.
    type: str
    choices: [none, passthrough, vgpu_guest, vgpu_host, vsga_host]
    version_added: 1.1.0
  processes:
    description:
      - Compute processes running on the host (replaces the list). A process holds its
        GPU (or its GPU and compute instance), so instances it uses cannot be destroyed
        and the GPU cannot be reset.
      - Each entry has C(pid), C(gpu) (index), optional C(name), C(gi_id) and C(ci_id)
        (on a MIG-enabled GPU, naming existing instances) and C(used_memory_mb).
    type: list
    elements: dict
  faults:
    description:
      - NVML failures to inject (replaces the armed list).
      - Each entry has C(function) (an NVML function name), C(error) (an C(NVML_ERROR_*)
        name), optional C(call) (fail the Nth matching call from now, default 1), C(gpu)
        (only calls on that GPU index) and C(persistent) (keep failing).
      - An entry C({gpu, lost}) marks a GPU as fallen off the bus (or back).
    type: list
    elements: dict
  latency:
    description:
      - Seconds each NVML call takes, as a mapping of NVML function name (or C(default))
        to seconds, or V(realistic) for estimates of real driver latencies.
    type: raw
  units:
    description:
      - GPU client services (systemd units) of the host, as a mapping of unit name to
        C(active) (bool) and C(gpus) (indices they hold, default all). Active units hold
        their GPUs like processes do.
      - Not with O(host_files=real), where the units are systemd's.
    type: dict
  host_files:
    description:
      - Where the host's files and services are. Set when the host is created; it cannot
        change afterwards.
      - V(simulated) keeps them in the simulated host (units in the state file, the CDI
        spec, mig-parted and Fabric Manager configuration, lock and journal under
        I(<path>.root)), so many simulated hosts can share one machine.
      - V(real) simulates only the GPUs and their driver (device nodes and driver files
        stay under I(<path>.root)). The machine's own systemd units are the GPU client
        services, the host's files are at their real paths (C(/var/run/cdi),
        C(/etc/nvidia-mig-manager), C(/usr/share/nvidia/nvswitch/fabricmanager.cfg)), and
        the simulated Fabric Manager answers only while the C(nvidia-fabricmanager)
        service marks it running (a stand-in service does that in the collection's tests).
        Use it on a container or VM with systemd that stands for one GPU host.
      - Defaults to V(simulated) when the host is created.
    type: str
    choices: [simulated, real]
notes:
  - O(gpus) and O(device_filter) are accepted (so C(module_defaults) can set them for the
    whole action group) but have no effect here.
  - In check mode the option values of a host that does not exist yet are validated when
    it is really created; for an existing host they are validated in check mode too.
attributes:
  check_mode:
    description: Reports what would change without writing anything.
    support: full
  diff_mode:
    description:
      - Shows the managed options (preset, fabric mode, reset support, processes, faults,
        latency, units, lost GPUs) before and after.
    support: full
seealso:
  - module: gpuops.mig.gpu_info
"""

EXAMPLES = r"""
- name: Create a simulated DGX H100
  gpuops.mig.simulated_host:
    path: /var/tmp/dgx-h100.json
    preset: dgx-h100
    fabric_mode: shared_nvswitch

- name: Let a CUDA job run on GPU 0 and make the next MIG mode change fail
  gpuops.mig.simulated_host:
    path: /var/tmp/dgx-h100.json
    processes:
      - pid: 4242
        gpu: 0
        name: train.py
    faults:
      - function: nvmlDeviceSetMigMode
        error: NVML_ERROR_IN_USE
        gpu: 0

- name: Use the simulated host for every module of the collection in this play
  module_defaults:
    group/gpuops.mig.mig:
      simulator: /var/tmp/dgx-h100.json
  block:
    - name: Read it
      gpuops.mig.gpu_info:

- name: Simulate the GPUs of this (container) host; its systemd units and files stay real
  gpuops.mig.simulated_host:
    path: /var/lib/gpuops-mig-sim/host.json
    preset: dgx-a100
    host_files: real

- name: Remove it
  gpuops.mig.simulated_host:
    path: /var/tmp/dgx-h100.json
    state: absent
"""

RETURN = r"""
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
path:
  description: Absolute path of the state file.
  returned: always
  type: str
  sample: /var/tmp/dgx-h100.json
host:
  description:
    - The simulated host after the change (in check mode as it is now, V(null) when it
      does not exist).
    - C(preset), C(reset_supported), C(driver_version), C(gpus) (index, board, name, uuid,
      pci_bus_id, minor, module_id, mig_current, mig_pending, lost, resets,
      gpu_instances), C(host_files), C(processes), C(units) (name to active), C(faults), C(latency),
      C(mutating_calls) (per NVML function), C(fabric) (nvswitch, mode, fm_running,
      active_partitions), and the paths C(root), C(dev_root), C(mig_minors_path) and C(driver_root) (the
      simulated driver installation).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.host import fabric_mode_value, manage_simulated_host
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.presets import PRESETS


def apply(session):
    params = session.params
    result = manage_simulated_host(
        params["path"],
        state=params["state"],
        preset=params["preset"],
        check_mode=session.check_mode,
        fabric_mode=fabric_mode_value(params["fabric_mode"]),
        reset_supported=params["reset_supported"],
        virtualization_mode=params["virtualization_mode"],
        processes=params["processes"],
        faults=params["faults"],
        latency=params["latency"],
        units=params["units"],
        host_files=params["host_files"],
    )
    if not session.diff:
        del result["diff"]
    return result


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            path=dict(type="path"),
            preset=dict(type="str", choices=sorted(PRESETS)),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            fabric_mode=dict(type="str", choices=["bare_metal", "shared_nvswitch", "vgpu", "0", "1", "2"]),
            reset_supported=dict(type="bool"),
            virtualization_mode=dict(type="str", choices=["none", "passthrough", "vgpu_guest", "vgpu_host", "vsga_host"]),
            processes=dict(type="list", elements="dict"),
            faults=dict(type="list", elements="dict"),
            latency=dict(type="raw"),
            units=dict(type="dict"),
            host_files=dict(type="str", choices=["simulated", "real"]),
        ),
        supports_check_mode=True,
    )
    if not module.params["path"]:
        module.params["path"] = module.params["simulator"]
    if not module.params["path"]:
        module.fail_json(msg="path: no simulated host given (set path, simulator or GPUOPS_MIG_SIMULATOR)", option="path")
    run_module(module, apply)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mig_instance
short_description: Converge a host's MIG state in one pass (mode, instances, GPU clients, CDI spec)
version_added: 1.0.0
description:
  - Makes the MIG instances of the selected GPUs (O(gpus), O(device_filter)) exactly what
    one of O(layout), O(requirements), O(gpu_layouts), O(layout_preset) or
    O(mig_parted_config) describes; O(state=absent) removes every instance.
  - One call converges the whole host (version 1.1.0). With O(apply_mig_mode) it turns MIG
    mode on where instances are wanted and off where they are not (O(state=disabled),
    mig-parted C(mig-enabled=false)), resetting GPUs as O(reset) allows; O(gpu_clients)
    are stopped only when something changes and always started again; O(cdi_spec) keeps
    the CDI spec listing exactly the devices that exist. Check mode predicts all of it from
    the same code.
  - O(disruption=minimal) keeps every existing instance that can stay where it is and
    destroys only what the new layout needs gone; O(disruption=recreate) wipes and
    recreates a GPU whose layout differs, as C(nvidia-mig-parted) does.
  - Instances that run processes are never destroyed unless O(force=true); the failure
    names them.
  - GPUs are reconfigured in parallel (O(parallel), feature gate V(ParallelReconfigure)).
  - Safety. Runs hold a host-wide lock (see O(lock_timeout)). Before the first change a
    journal of the plan is written (C(/var/lib/gpuops-mig/journal.json); next to the state
    file for a simulated host) and every completed step is recorded in it. A run that
    finds a journal reports RV(recovered=true) and settles it first, touching only
    instances of the journal's plan. A GPU wanted in the same state completes the
    plan; a GPU wanted differently is planned again from what exists; a GPU this run
    does not select is returned to its layout from before the interrupted run.
  - When an NVML call fails part way, every GPU of the run is rolled back (instances
    created are destroyed, instances destroyed are recreated at the same placement) and
    the task fails with a message naming the host, GPU, call and NVML error, with
    RV(rollback) and the instances that exist afterwards.
  - A run that finds every GPU as wanted changes nothing and makes no mutating NVML
    call.
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
  - gpuops.mig.mig_change
options:
  state:
    description:
      - V(present) makes the instances match the desired state; V(absent) removes every
        MIG instance of the selected GPUs (MIG mode stays as it is); V(disabled) removes
        every instance and disables MIG mode (whole GPUs; implies O(apply_mig_mode)).
    type: str
    default: present
    choices: [present, absent, disabled]
  gpu_layouts:
    description:
      - A layout (same form as O(layout)) per GPU index, for hosts whose GPUs differ; GPUs
        not named are left alone.
    type: dict
    version_added: 1.1.0
  layout_preset:
    description:
      - A named layout applied to every selected GPU, turned into each board's own
        profiles - V(all-1g), V(all-2g), V(all-3g), V(all-balanced) or V(all-whole), as
        mig-parted's configs of the same names.
    type: str
    version_added: 1.1.0
  default_layout_preset:
    description:
      - The O(layout_preset) used when no form of desired state is given (the C(mig) role
        passes V(all-balanced)).
    type: str
    version_added: 1.1.0
  apply_mig_mode:
    description:
      - Enable and disable MIG mode as the desired state needs, in the same pass,
        resetting GPUs as O(reset) allows.
      - Without it, MIG mode must already be as wanted (M(gpuops.mig.mig_mode)), except
        that the V(AutoEnableMig) feature gate enables it where that needs no GPU reset.
    type: bool
    default: false
    version_added: 1.1.0
  deployment_mode:
    description:
      - The deployment mode the host is managed in (the roles pass their own). The GPUs must
        not say otherwise (C(nvmlDeviceGetVirtualizationMode)) - a V(sriov) host runs the vGPU
        manager (V(vgpu_host)); V(bare_metal) and V(passthrough) hosts do not - or the task
        fails before anything changes.
    type: str
    choices: [bare_metal, passthrough, sriov]
    version_added: 1.1.0
  multi_gpu_partitions:
    description:
      - The host serves multi-GPU NVSwitch fabric partitions (the C(passthrough) and
        C(sriov) roles set it); MIG instances are then refused on architectures whose Fabric
        Manager does not activate such partitions with MIG enabled (Ampere).
    type: bool
    default: false
    version_added: 1.1.0
  option_names:
    description:
      - Names to use for options in error messages, such as C(layout) named C(mig_layout); the
        roles pass their inventory variable names so that an error names what to fix.
    type: dict
    version_added: 1.1.0
  layout:
    description:
      - The complete list of GPU instances for each selected GPU.
      - An entry is a profile name such as V(3g.40gb) or V(1g.10gb+me) (one GPU instance
        with its default compute instance) or a compute-instance name such as
        V(1c.3g.40gb) (one GPU instance with that one compute instance, as mig-parted
        reads it), or a mapping with C(profile), C(count) (default 1), C(placement) (start
        slot V(4), V("4:4") or C({start, size}); one instance only) and
        C(compute_instances) (list such as V([1c, 1c, 1c]) or V([1c.3g.40gb, 2c.3g.40gb]);
        V([]) for none).
      - Names are resolved against each GPU's own profiles; an unknown name fails and lists
        the GPU's valid profiles.
    type: list
    elements: raw
  requirements:
    description:
      - Workload requirements, turned into profiles per GPU by the collection's selection
        (see C(docs/reconfiguration.md)), as items with C(memory_gb), C(compute_slices),
        C(media_engines) and C(count).
    type: list
    elements: dict
  mig_parted_config:
    description:
      - An NVIDIA mig-parted v1 configuration, so existing configs can be used as they are
        (C(device-filter), C(devices), C(mig-enabled), C(mig-devices); validated as
        mig-parted does).
      - GPUs the config does not select are left alone. For GPUs with
        C(mig-enabled=false) every instance is removed; MIG mode itself is disabled only
        with the V(AutoEnableMig) gate on architectures that need no reset, otherwise
        RV(mig_mode_required) lists them for M(gpuops.mig.mig_mode).
    type: dict
    suboptions:
      file:
        description: Path of the config file on the managed host.
        type: path
      content:
        description: The config itself (a mapping, or its YAML text), instead of O(mig_parted_config.file).
        type: raw
        version_added: 1.1.0
      name:
        description: Name of the config under C(mig-configs); may be omitted when the file
          holds exactly one.
        type: str
  placement_strategy:
    description:
      - V(best-fit) leaves the most room for further instances, V(balanced) spreads
        instances over the GPU, V(fabric-aware) (feature gate V(FabricAwarePlacement),
        which also makes it the default) places with the NVSwitch fabric in mind.
      - Default V(best-fit), or V(fabric-aware) when V(FabricAwarePlacement) is on.
    type: str
    choices: [best-fit, balanced, fabric-aware]
  disruption:
    description:
      - V(minimal) keeps every instance that can stay; V(recreate) rebuilds a GPU whose
        layout differs from scratch.
    type: str
    default: minimal
    choices: [minimal, recreate]
  sharing_strategy:
    description:
      - How the instances will be shared, used by O(requirements) selection;
        V(time-slicing) prefers smaller profiles, V(mps) larger ones.
    type: str
    default: none
    choices: [none, time-slicing, mps]
  force:
    description:
      - Destroy instances that run processes when the desired state needs them gone (NVML
        still refuses while a process holds an instance).
    type: bool
    default: false
  parallel:
    description:
      - How many GPUs are reconfigured at the same time. Default every selected GPU; 1
        when the V(ParallelReconfigure) feature gate is off.
    type: int
  lock_timeout:
    description:
      - Seconds to wait for the host lock held by another gpuops.mig run; the failure
        names the pid of the holder. A holder that died does not block.
    type: float
    default: 60
attributes:
  check_mode:
    description: Reports the exact actions the run would take (driver-assigned ids
      excepted) and the layouts it would leave.
    support: full
  diff_mode:
    description: Shows the layout of every selected GPU before and after, as
      C(profile@start:size) with non-default compute instances in brackets.
    support: full
notes:
  - Without O(apply_mig_mode), MIG mode must already be enabled (M(gpuops.mig.mig_mode)).
  - On GPUs of an active multi-GPU NVSwitch partition instances are created only on
    Hopper and later, and only with the V(MigInFabricPartitions) gate (default on).
  - NVML lists the compute-instance profiles of a GPU-instance profile only through an
    existing GPU instance, so compute instances of a new GPU instance are resolved right
    after it is created; check mode names them by profile only.
seealso:
  - module: gpuops.mig.mig_mode
  - module: gpuops.mig.gpu_info
  - module: gpuops.mig.mig_plan
"""

EXAMPLES = r"""
- name: Two 1g, one 2g and one 3g instance on every A100-40GB
  gpuops.mig.mig_instance:
    device_filter: ["0x20B010DE"]
    layout: [1g.5gb, 1g.5gb, 2g.10gb, 3g.20gb]

- name: Exact placements and compute instances on GPU 0
  gpuops.mig.mig_instance:
    gpus: [0]
    layout:
      - profile: 3g.40gb
        placement: 4
        compute_instances: [1c, 1c, 1c]
      - profile: 1g.10gb
        count: 3

- name: Pick profiles for the workloads
  gpuops.mig.mig_instance:
    requirements:
      - {memory_gb: 20, compute_slices: 2, count: 2}
      - {memory_gb: 10, media_engines: true}
    sharing_strategy: time-slicing

- name: Apply an existing mig-parted config
  gpuops.mig.mig_instance:
    mig_parted_config:
      file: /etc/nvidia-mig-manager/config.yaml
      name: all-balanced
  register: applied

- name: Converge the whole host in one pass - MIG mode, instances, GPU clients, CDI spec
  gpuops.mig.mig_instance:
    layout_preset: all-balanced
    apply_mig_mode: true
    gpu_clients: [nvidia-dcgm, nvidia-k8s-device-plugin]
    cdi_spec: {}

- name: Whole GPUs again - remove every instance and disable MIG mode
  gpuops.mig.mig_instance:
    state: disabled
    cdi_spec: {}

- name: Remove every MIG instance of GPUs 2 and 3, serially, waiting up to 5 minutes
  gpuops.mig.mig_instance:
    state: absent
    gpus: [2, 3]
    parallel: 1
    lock_timeout: 300
"""

RETURN = r"""
changed:
  description: Whether any instance was (or in check mode would be) created or destroyed.
  returned: always
  type: bool
actions:
  description: >-
    The steps taken (check mode: that would be taken), per GPU in execution order:
    C(destroy_compute_instance), C(destroy_gpu_instance), C(create_gpu_instance) (with
    C(placement)), C(create_compute_instance), C(set_mig_mode); with the driver's
    C(gi_id), C(ci_id) and C(mig_uuid) once done.
  returned: always
  type: list
  elements: dict
  sample:
    - {gpu: 0, action: create_gpu_instance, profile: 3g.40gb, placement: {start: 4, size: 4}, gi_id: 1}
    - {gpu: 0, action: create_compute_instance, profile: 3g.40gb, gi_id: 1, ci_id: 0,
       mig_uuid: MIG-3f0f1e2d-7c6b-5a49-8e7f-6d5c4b3a2910}
mig_devices:
  description: Every MIG device of the selected GPUs after the run (check mode - as they
    are now).
  returned: always
  type: list
  elements: dict
  contains:
    gpu:
      description: Index of the parent GPU.
      type: int
    gpu_uuid:
      description: UUID of the parent GPU.
      type: str
    mig_index:
      description: Dense MIG device index on the parent.
      type: int
    gi_id:
      description: GPU instance id.
      type: int
    ci_id:
      description: Compute instance id.
      type: int
    profile:
      description: MIG device profile, for example C(3g.40gb) or C(1c.3g.40gb).
      type: str
    placement:
      description: Placement of the GPU instance, C(start) and C(size) in memory slots.
      type: dict
    uuid:
      description: MIG device UUID (C(MIG-...)).
      type: str
    memory_mb:
      description: Memory of the MIG device in MiB.
      type: int
gpus:
  description: The selected GPUs with their instances after the run (check mode -
    predicted, with C(null) for ids the driver has not assigned yet).
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
    architecture:
      description: Architecture name.
      type: str
    mig:
      description: MIG mode, C(current) and C(pending).
      type: dict
    changed:
      description: Whether this GPU was changed.
      type: bool
    instances:
      description: GPU instances with C(gi_id), C(profile), C(profile_id), C(placement)
        ([start, size]), C(compute_instances) and C(processes).
      type: list
      elements: dict
recovered:
  description: Whether the run found and settled the journal of an interrupted run.
  returned: always
  type: bool
reboot_required:
  description: Whether a MIG mode change waits for a reboot (the host cannot reset the
    GPU, or O(reset=never)); the instances of those GPUs are created after it.
  returned: always
  type: bool
  version_added: 1.1.0
pending_gpus:
  description: The GPUs whose MIG mode change waits for a reboot.
  returned: always
  type: list
  elements: int
  version_added: 1.1.0
gpu_clients_restarted:
  description: The O(gpu_clients) that were stopped for the pass and started again.
  returned: when the pass changed something
  type: list
  elements: str
  version_added: 1.1.0
cdi_spec:
  description: The result of the CDI spec refresh (as M(gpuops.mig.cdi_spec) returns it).
  returned: when O(cdi_spec) is given
  type: dict
  version_added: 1.1.0
mig_mode_required:
  description: GPUs whose MIG mode a mig-parted config wants disabled but that this
    module left enabled (use M(gpuops.mig.mig_mode)).
  returned: when not empty
  type: list
  elements: int
rollback:
  description: On failure, the steps that undid the run's changes, each with C(ok) (and
    C(error) when it failed).
  returned: failure after changes
  type: list
  elements: dict
instances:
  description: On failure, the GPU instances of every GPU of the run after the rollback.
  returned: failure after changes
  type: dict
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
from ansible_collections.gpuops.mig.plugins.module_utils._converge import CHANGE_OPTIONS, converge
from ansible_collections.gpuops.mig.plugins.module_utils._lock import DEFAULT_LOCK_TIMEOUT


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            state=dict(type="str", default="present", choices=["present", "absent", "disabled"]),
            layout=dict(type="list", elements="raw"),
            gpu_layouts=dict(type="dict"),
            layout_preset=dict(type="str"),
            default_layout_preset=dict(type="str"),
            apply_mig_mode=dict(type="bool", default=False),
            multi_gpu_partitions=dict(type="bool", default=False),
            deployment_mode=dict(type="str", choices=["bare_metal", "passthrough", "sriov"]),
            option_names=dict(type="dict"),
            requirements=dict(type="list", elements="dict"),
            mig_parted_config=dict(
                type="dict",
                options=dict(file=dict(type="path"), content=dict(type="raw"), name=dict(type="str")),
                mutually_exclusive=[("file", "content")],
                required_one_of=[("file", "content")],
            ),
            placement_strategy=dict(type="str", choices=["best-fit", "balanced", "fabric-aware"]),
            disruption=dict(type="str", default="minimal", choices=["minimal", "recreate"]),
            sharing_strategy=dict(type="str", default="none", choices=["none", "time-slicing", "mps"]),
            force=dict(type="bool", default=False),
            parallel=dict(type="int"),
            lock_timeout=dict(type="float", default=DEFAULT_LOCK_TIMEOUT),
            **CHANGE_OPTIONS
        ),
        supports_check_mode=True,
    )
    run_module(module, converge, hardware=Hardware)


if __name__ == "__main__":
    main()

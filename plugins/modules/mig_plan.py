#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mig_plan
short_description: Plan MIG layouts for a fleet-wide demand across hosts and GPUs
version_added: 1.0.0
description:
  - Turns a demand for the whole fleet (for example 40 small instances, 12 half GPUs and
    4 full GPUs) into a MIG layout for every GPU of every host, from the inventory
    M(gpuops.mig.gpu_info) returned for each host.
  - Runs on the controller and touches no hardware; it only computes. Apply the plan with
    M(gpuops.mig.mig_instance) on each host (RV(plan) is written the way
    O(gpuops.mig.mig_instance#module:layout) takes it), or hand RV(mig_parted_config) to
    mig-parted.
  - The demand is the wanted state of the fleet. Existing instances that match a demand
    item are kept and count towards it; the other existing instances of the GPUs the plan
    covers are listed for removal (RV(gpus[].remove)).
  - Names resolve per GPU (V(1g.10gb) is a different profile on A100-40GB and H100), and
    requirements are matched per GPU against the profiles that GPU offers. GPUs without
    MIG, and Ampere GPUs in an active multi-GPU fabric partition, are excluded with a
    reason.
  - The result is deterministic; what cannot be placed is listed in RV(unplaced) with a
    reason, it does not fail the module.
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
options:
  fleet:
    description:
      - The fleet, as a mapping of host name to that host's registered
        M(gpuops.mig.gpu_info) result (see the examples).
      - Every GPU of every result is planned; choose GPUs with the O(gpus) and
        O(device_filter) options of the M(gpuops.mig.gpu_info) calls that built the fleet.
      - A host whose value is not a successful M(gpuops.mig.gpu_info) result fails the
        module, naming the host.
    type: dict
    required: true
  demand:
    description:
      - What the fleet must provide, as a non-empty list of items, each with either
        O(demand[].profile) or O(demand[].requirements) (naming at least one requirement),
        and O(demand[].count).
    type: list
    elements: dict
    required: true
    suboptions:
      profile:
        description:
          - A MIG profile name such as V(1g.10gb), V(3g.40gb+me) or V(7g.80gb), resolved on
            each GPU; GPUs that do not offer it are not used for this item.
        type: str
      requirements:
        description:
          - What one instance needs; each GPU gets the profile that fits best (see
            O(gpuops.mig.mig_instance#module:requirements) for the scoring).
          - "A whole GPU of an 8-slot board is V({compute_slices: 7})."
        type: dict
        suboptions:
          memory_gb:
            description: Minimum memory of the instance in GB.
            type: float
          compute_slices:
            description: Minimum compute slices (the C(g) of the profile name).
            type: int
          media_engines:
            description: The instance needs every media engine kind the GPU has (C(+me) profiles).
            type: bool
      count:
        description: How many instances of this item the fleet needs.
        type: int
        default: 1
  placement_strategy:
    description:
      - V(best-fit) fills GPUs one after the other, largest items first, so whole GPUs stay
        free for later demand.
      - V(balanced) gives each instance to the least loaded GPU that can take it.
      - V(fabric-aware) gives every GPU of one active NVSwitch fabric partition the same
        layout, and fills the GPUs outside partitions like V(best-fit).
    type: str
    choices: [best-fit, balanced, fabric-aware]
    default: best-fit
  sharing_strategy:
    description:
      - How the instances will be shared, which steers requirement-based selection like
        the option of that name of M(gpuops.mig.mig_instance).
      - V(time-slicing) prefers smaller profiles, V(mps) larger ones.
    type: str
    choices: [none, time-slicing, mps]
    default: none
  simulator:
    description:
      - Ignored. M(gpuops.mig.mig_plan) reads no hardware; the option exists so that
        C(module_defaults) for the action group can set it for every module.
  gpus:
    description:
      - Ignored (see O(fleet) for choosing GPUs); accepted for C(module_defaults) of the
        action group.
  device_filter:
    description:
      - Ignored (see O(fleet) for choosing GPUs); accepted for C(module_defaults) of the
        action group.
attributes:
  check_mode:
    description: The module never changes anything; check mode returns the same plan.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - Needs no NVML bindings. It runs on the controller (C(delegate_to) or a play on
    C(localhost)) and reads only the O(fleet) data.
  - Placements are exact per GPU (a layout is placed if and only if some valid placement
    exists), but applying the plan can still meet a GPU that changed since
    M(gpuops.mig.gpu_info) read it; M(gpuops.mig.mig_instance) then plans that GPU again.
seealso:
  - module: gpuops.mig.gpu_info
  - module: gpuops.mig.mig_instance
"""

EXAMPLES = r"""
- name: Read the GPUs of every GPU host
  hosts: gpu_nodes
  gather_facts: false
  tasks:
    - name: Inventory
      gpuops.mig.gpu_info:
      register: gpu_inventory

- name: Plan the fleet
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Place 40 small, 12 half-GPU and 4 full-GPU instances
      gpuops.mig.mig_plan:
        fleet: "{{ dict(groups['gpu_nodes'] | zip(groups['gpu_nodes'] | map('extract', hostvars, 'gpu_inventory'))) }}"
        demand:
          - profile: 1g.10gb
            count: 40
          - requirements: {compute_slices: 3}
            count: 12
          - requirements: {compute_slices: 7}
            count: 4
        placement_strategy: best-fit
      register: fleet_plan

    - name: Stop when the fleet is too small
      ansible.builtin.assert:
        that: fleet_plan.unplaced | length == 0
        fail_msg: "{{ fleet_plan.unplaced | map(attribute='reason') | list }}"

- name: Apply the plan
  hosts: gpu_nodes
  gather_facts: false
  tasks:
    - name: Create the planned instances, GPU by GPU
      gpuops.mig.mig_instance:
        gpus: ["{{ item.key }}"]
        layout: "{{ item.value }}"
      loop: "{{ hostvars['localhost'].fleet_plan.plan[inventory_hostname] | dict2items }}"
      loop_control:
        label: "GPU {{ item.key }}"
"""

RETURN = r"""
changed:
  description: Always V(false); planning changes nothing.
  returned: always
  type: bool
  sample: false
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
strategy:
  description: The placement strategy used.
  returned: success
  type: str
  sample: best-fit
plan:
  description:
    - Host name -> GPU index (as a string) -> the GPU's complete layout, a list of
      C(profile) and C(placement) (C(start), C(size) in memory slots) in placement order,
      written as M(gpuops.mig.mig_instance)'s O(gpuops.mig.mig_instance#module:layout)
      takes it. An empty list means the GPU should have no instances.
    - Only planned GPUs appear (not those in RV(excluded)).
  returned: success
  type: dict
  sample:
    dgx-h100-01:
      "0":
        - {profile: 3g.40gb, placement: {start: 0, size: 4}}
        - {profile: 3g.40gb, placement: {start: 4, size: 4}}
gpus:
  description:
    - The planner's view of each planned GPU, in host and index order.
  returned: success
  type: list
  elements: dict
  contains:
    host:
      description: Host name (a key of O(fleet)).
      type: str
    index:
      description: GPU index.
      type: int
    uuid:
      description: GPU UUID.
      type: str
    architecture:
      description: Architecture name.
      type: str
    fabric_partition:
      description: Id of the active fabric partition the GPU belongs to, or V(null).
      type: int
    layout:
      description:
        - The planned instances, each with C(profile), C(placement), C(compute_profile)
          (the default compute instance, V(null) where the inventory does not know it),
          C(demand) (index of the O(demand) item it serves) and C(existing) (GPU instance
          id of an instance that is kept, V(null) for a new one).
      type: list
      elements: dict
    remove:
      description: Ids of the existing GPU instances the plan does not keep.
      type: list
      elements: int
    changed:
      description: Whether applying the plan changes this GPU.
      type: bool
excluded:
  description: GPUs the plan does not use, each with C(host), C(index), C(uuid) and C(reason).
  returned: success
  type: list
  elements: dict
  sample: [{"host": "pcie-01", "index": 0, "uuid": "GPU-...", "reason": "ada GPUs do not support MIG"}]
unplaced:
  description:
    - Demand that found no room, each with C(demand) (item index), C(item) (the item as
      given), C(count) (instances missing) and C(reason).
  returned: success
  type: list
  elements: dict
  sample: [{"demand": 2, "item": {"profile": "7g.80gb", "count": 4}, "count": 1, "reason": "no capacity left for 7g.80gb: 3 of 4 placed"}]
mig_parted_config:
  description:
    - Host name -> the host's plan as a mig-parted v1 document with one config named
      C(planned) (GPU indices grouped by identical layouts; mig-parted counts instances
      by profile and does not keep placements).
  returned: success
  type: dict
summary:
  description:
    - Counts over the plan. C(demanded) instances in O(demand); C(placed) of them found a
      place, C(kept) as existing instances and C(new) as instances to create; C(unplaced)
      did not. C(removed) existing instances go. C(gpus) in O(fleet), C(gpus_planned)
      and C(gpus_excluded) of them, C(gpus_used) planned GPUs with instances,
      C(gpus_changed) planned GPUs that change; C(hosts) in O(fleet).
  returned: success
  type: dict
  sample: {"hosts": 2, "gpus": 16, "gpus_planned": 16, "gpus_excluded": 0, "gpus_used": 11, "gpus_changed": 11,
           "demanded": 34, "placed": 34, "new": 34, "kept": 0, "removed": 0, "unplaced": 0}
"""

from ansible.module_utils.basic import AnsibleModule

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._fleet_input import mig_plan
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module

DEMAND_ITEM = dict(
    profile=dict(type="str"),
    requirements=dict(
        type="dict",
        options=dict(
            memory_gb=dict(type="float"),
            compute_slices=dict(type="int"),
            media_engines=dict(type="bool"),
        ),
    ),
    count=dict(type="int", default=1),
)


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            fleet=dict(type="dict", required=True),
            demand=dict(
                type="list",
                elements="dict",
                required=True,
                options=DEMAND_ITEM,
                mutually_exclusive=[("profile", "requirements")],
                required_one_of=[("profile", "requirements")],
            ),
            placement_strategy=dict(type="str", choices=["best-fit", "balanced", "fabric-aware"], default="best-fit"),
            sharing_strategy=dict(type="str", choices=["none", "time-slicing", "mps"], default="none"),
        ),
        supports_check_mode=True,
    )
    run_module(
        module,
        lambda session: mig_plan(
            session.params["fleet"],
            session.params["demand"],
            session.params["placement_strategy"],
            session.params["sharing_strategy"],
        ),
    )


if __name__ == "__main__":
    main()

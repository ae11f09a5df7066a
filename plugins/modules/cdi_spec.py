#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cdi_spec
short_description: Write the CDI spec for full GPUs and MIG devices from the live state
version_added: 1.0.0
description:
  - Generates a Container Device Interface (CDI) spec from what the GPUs report now, so
    container runtimes (containerd, CRI-O, podman, docker) find the full GPUs and MIG
    devices that exist after a MIG change. A stale spec breaks every container that asks
    for a MIG device, so run this module after every MIG reconfiguration.
  - One device per full GPU (GPUs in MIG mode get none), one per MIG device with the parent
    C(/dev/nvidiaN) node and the GPU-instance and compute-instance access capability nodes
    C(/dev/nvidia-caps/nvidia-capM) (minors read from the mig-minors file), and a device
    named V(all) with every node. Spec-wide edits add the control nodes that exist
    (C(/dev/nvidia-modeset), C(/dev/nvidia-uvm-tools), C(/dev/nvidia-uvm), C(/dev/nvidiactl))
    and C(NVIDIA_VISIBLE_DEVICES=void).
  - C(cdiVersion) is the lowest CDI version the content needs. The spec is checked against
    the rules of the CDI reference implementation before it is written.
  - The file is replaced atomically and only when its content changes; key order,
    formatting and device order do not count as changes.
  - With O(gpus) or O(device_filter) the spec lists the selected GPUs (and their MIG
    devices) only; names keep the NVML indices.
  - Driver libraries and hooks are not part of the spec (see the notes).
author: gpuops maintainers (@gpuops)
extends_documentation_fragment:
  - gpuops.mig.common
options:
  path:
    description:
      - The spec file, an absolute path (it is normalised, so V(..) is resolved). The
        extension picks the format, V(.yaml)/V(.yml) for YAML (needs PyYAML on the managed
        host) or V(.json) for JSON.
      - The default is the file C(nvidia-cdi-refresh.service) of the NVIDIA Container
        Toolkit writes, so the two never define the same devices twice. C(/var/run/cdi) is
        cleared on boot, like MIG instances are.
      - Missing parent directories are created with mode 0755.
    type: path
    default: /var/run/cdi/nvidia.yaml
  kind:
    description:
      - CDI kind, V(vendor/class). Containers request devices as V(<kind>=<name>), for
        example V(nvidia.com/gpu=0:1).
      - Vendor and class start with a letter, end with a letter or digit, and contain only
        letters, digits, V(_), V(-) and V(.).
    type: str
    default: nvidia.com/gpu
  device_name_strategies:
    description:
      - How devices are named; every device gets one name per strategy, as
        C(nvidia-ctk cdi generate --device-name-strategy) does.
      - V(index) names full GPUs by NVML index (V(0)) and MIG devices
        V(<gpu index>:<mig index>) (V(0:1)); the MIG index is the position among the
        GPU's MIG devices, as C(nvidia-smi -L) lists them, not a GI or CI id.
      - V(uuid) uses the GPU UUID (V(GPU-...)) or MIG device UUID (V(MIG-...)).
      - V(type-index) gives V(gpu0) and V(mig0:1).
    type: list
    elements: str
    choices: [index, uuid, type-index]
    default: [index, uuid]
  state:
    description:
      - V(present) writes the spec for the live state of the selected GPUs.
      - V(absent) removes the file (no GPU access needed). A file that is not a CDI spec
        (no C(cdiVersion) and C(kind)) is never removed; the module fails instead.
    type: str
    choices: [present, absent]
    default: present
  mode:
    description:
      - File mode of the spec, as an octal string such as V("0644").
      - The container runtime runs the spec's hooks as root, so modes that let others
        write the file, and set-id or sticky bits, are refused.
    type: raw
    default: "0644"
  dev_root:
    description:
      - Directory under which the host's C(dev/) with the NVIDIA device nodes lives, like
        C(nvidia-ctk --dev-root). Device nodes get a C(hostPath) below it when it is not V(/).
      - Default is V(/) on a real host and the simulated host's own root with O(simulator).
    type: path
  mig_minors_path:
    description:
      - The driver's MIG capability minors file.
      - Default is C(/proc/driver/nvidia-caps/mig-minors) on a real host and the simulated
        host's copy with O(simulator).
      - When MIG devices exist and the file does not, the module fails instead of writing a
        spec without working MIG devices.
    type: path
notes:
  - The spec holds device nodes only. Driver libraries, binaries and the
    C(nvidia-cdi-hook) hooks that C(nvidia-ctk cdi generate) adds are not discovered;
    use images that carry the CUDA user-space libraries matching the driver, or mount them.
  - DRM nodes (C(/dev/dri/cardN)) of full GPUs are not included.
  - When no selected GPU has a device to expose (all in MIG mode without MIG devices), the
    module fails, because a CDI spec needs at least one device; use O(state=absent).
  - Check mode reports whether the file would change without writing it; diff mode shows
    the device list with each device's nodes before and after.
seealso:
  - name: Container Device Interface specification
    description: The CDI spec format and its versions.
    link: https://github.com/cncf-tags/container-device-interface/blob/main/SPEC.md
"""

EXAMPLES = r"""
- name: Refresh the CDI spec after changing the MIG layout
  gpuops.mig.cdi_spec:

- name: JSON spec in /etc/cdi with type-index names only
  gpuops.mig.cdi_spec:
    path: /etc/cdi/nvidia.json
    device_name_strategies: [type-index]

- name: Spec for a driver container whose device nodes live under /run/nvidia/driver
  gpuops.mig.cdi_spec:
    dev_root: /run/nvidia/driver

- name: Spec for a simulated host
  gpuops.mig.cdi_spec:
    simulator: /tmp/sim/dgx-h100.json
    path: /tmp/sim/cdi/nvidia.yaml

- name: Remove the spec
  gpuops.mig.cdi_spec:
    state: absent
"""

RETURN = r"""
path:
  description: The spec file.
  returned: always
  type: str
  sample: /var/run/cdi/nvidia.yaml
kind:
  description: The CDI kind of the spec.
  returned: always
  type: str
  sample: nvidia.com/gpu
devices:
  description: Names of the devices in the spec, in file order (empty with O(state=absent)).
  returned: always
  type: list
  elements: str
  sample: ["0:0", "MIG-7c1d6f0e-2a3b-5c4d-9e8f-0a1b2c3d4e5f", "1", "GPU-4a3e0001-1d2c-4f8e-9a7b-5c6d7e8f9001", "all"]
cdi_version:
  description: The cdiVersion of the spec (the lowest its content needs); null with O(state=absent).
  returned: always
  type: str
  sample: 0.5.0
backend:
  description: V(nvml) for real GPUs, V(simulator) for a simulated host.
  returned: when O(state=present)
  type: str
  sample: nvml
feature_gates:
  description: Effective value of every feature gate.
  returned: always
  type: dict
diff:
  description: The devices (one line each, C(name) followed by its device nodes) before and after.
  returned: in diff mode
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gpuops.mig.plugins.module_utils._cdi import (
    DEFAULT_KIND,
    DEFAULT_MODE,
    DEFAULT_NAME_STRATEGIES,
    DEFAULT_PATH,
    NAME_STRATEGIES,
    manage_spec,
    spec_options,
)
from ansible_collections.gpuops.mig.plugins.module_utils._errors import MigError
from ansible_collections.gpuops.mig.plugins.module_utils._module import common_argument_spec, run_module
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware


def main():
    module = AnsibleModule(
        argument_spec=common_argument_spec(
            path=dict(type="path", default=DEFAULT_PATH),
            kind=dict(type="str", default=DEFAULT_KIND),
            device_name_strategies=dict(
                type="list", elements="str", choices=list(NAME_STRATEGIES), default=list(DEFAULT_NAME_STRATEGIES)
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="raw", default=DEFAULT_MODE),
            dev_root=dict(type="path"),
            mig_minors_path=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        options = spec_options(module.params)
    except MigError as error:
        module.fail_json(msg=str(error), **error.details())
    run_module(
        module,
        lambda session: manage_spec(options, session.hardware, session.gpus, session.check_mode, session.diff),
        hardware=Hardware if options.state == "present" else None,
    )


if __name__ == "__main__":
    main()

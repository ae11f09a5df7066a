#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cdi_spec
short_description: Write the CDI spec that makes full GPUs and MIG devices usable in containers
version_added: 1.0.0
description:
  - Generates a Container Device Interface (CDI) spec from what the GPUs report now, so
    container runtimes (containerd, CRI-O, podman, docker) find the full GPUs and MIG
    devices that exist after a MIG change. A stale spec breaks every container that asks
    for a MIG device, so run this module after every MIG reconfiguration.
  - One device per full GPU (GPUs in MIG mode get none, as with C(nvidia-ctk)), one per MIG
    device with the parent C(/dev/nvidiaN) node and the GPU-instance and compute-instance
    access capability nodes C(/dev/nvidia-caps/nvidia-capM) (minors read from the
    mig-minors file), and a device named V(all) with every node. Spec-wide edits add the
    control nodes that exist (C(/dev/nvidia-modeset), C(/dev/nvidia-uvm-tools),
    C(/dev/nvidia-uvm), C(/dev/nvidiactl)) and C(NVIDIA_VISIBLE_DEVICES=void).
  - Spec-wide edits also mount the driver files a container needs, found under
    O(driver_root) for the driver version NVML reports, as C(nvidia-ctk cdi generate) does, namely
    the driver's C(lib*.so.<version>) libraries (library directories and the ldcache),
    C(nvidia-smi) and the other driver binaries, GSP firmware and the IPC sockets of
    nvidia-persistenced, Fabric Manager and MPS.
  - Libraries are mounted in C(/usr/lib/<multiarch>) under their own name and under their
    SONAME (C(libcuda.so.1)), so they load in Debian- and Ubuntu-based images without the
    NVIDIA Container Toolkit. When the toolkit's C(nvidia-cdi-hook) or C(nvidia-ctk) is on
    the host (O(hooks=auto)), its C(create-symlinks), C(enable-cuda-compat),
    C(update-ldcache) and C(disable-device-node-modification) hooks are added as well.
  - C(cdiVersion) is the lowest CDI version the content needs. The spec is checked against
    the rules of the CDI reference implementation before it is written.
  - The file is replaced atomically and only when its content changes; key order,
    formatting and device order do not count as changes. The runtime runs a spec's hooks
    as root, so the module refuses directories other users can write, and replaces or
    removes only CDI specs of its O(kind) (see O(force)).
  - With O(gpus) or O(device_filter) the spec lists the selected GPUs (and their MIG
    devices) only; names keep the NVML indices.
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
      - Default V(nvidia.com/gpu), or V(management.nvidia.com/gpu) with
        O(discovery_mode=management).
    type: str
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
      - V(absent) removes the file (no GPU access needed). Only a CDI spec of O(kind) is
        removed; anything else (a file that is not a CDI spec, another vendor's spec, a
        symlink, a FIFO) is never removed, whatever O(force) says; the module fails instead.
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
  driver_root:
    description:
      - Root of the NVIDIA driver installation whose files the spec mounts, like
        C(nvidia-ctk --driver-root); for example C(/run/nvidia/driver) for a driver
        container, or C(/usr/local/nvidia) where the driver lives in C(lib64/), C(bin/),
        C(firmware/) below it. Mounts get a C(hostPath) below it and container paths
        without it.
      - Libraries of the driver version NVML reports are looked for in C(lib64),
        C(usr/lib64), C(lib/<multiarch>), C(usr/lib/<multiarch>), C(lib), C(usr/lib),
        C(usr/local/lib) and the ldcache C(etc/ld.so.cache) below it. When neither
        C(libcuda.so.<version>) nor C(libnvidia-ml.so.<version>) is there the module fails
        naming what it looked for, and when only other versions are there (driver updated
        without a reboot) it fails naming both versions.
      - Default is V(/) on a real host and the simulated host's driver with O(simulator).
    type: path
  hooks:
    description:
      - V(auto) adds the NVIDIA Container Toolkit's hooks when C(nvidia-cdi-hook) (or else
        C(nvidia-ctk)) is installed in C(/usr/bin), C(/usr/local/bin), C(/usr/sbin), C(/bin)
        or C(/sbin) on the host; they need toolkit 1.17.8 or later.
      - V(none) writes a spec without hooks; it works without the toolkit (see the notes).
    type: str
    choices: [auto, none]
    default: auto
  hook_path:
    description:
      - The C(nvidia-cdi-hook) or C(nvidia-ctk) binary the hooks run, instead of looking
        for one (an absolute path on the host; the runtime runs it as root).
    type: path
  discovery_mode:
    description:
      - V(nvml) writes a device per full GPU and MIG device.
      - V(management) writes a single device V(all) with every GPU node and every
        capability node under C(dev/nvidia-caps), for monitoring containers (DCGM,
        exporters), as C(nvidia-ctk cdi generate --mode=management) does; request it as
        V(management.nvidia.com/gpu=all). Write it to its own file (O(path)).
    type: str
    choices: [nvml, management]
    default: nvml
  force:
    description:
      - Replace what is at O(path) even when it is not a CDI spec of O(kind) (another
        vendor's spec, a file that is not a spec, a symlink, a FIFO). Without it the module
        fails and leaves the file alone.
    type: bool
    default: false
  allow_writable_directory:
    description:
      - Write the spec even into a directory that users other than root (and the one
        running the module) can write or own, or below a directory they can write without
        the sticky bit. The container runtime runs the hooks of every spec in its CDI
        directories as root, so such a directory hands those users root.
    type: bool
    default: false
notes:
  - Without the NVIDIA Container Toolkit (O(hooks=none), or no hook binary on the host)
    the libraries are found by the dynamic linker of Debian- and Ubuntu-based images,
    which search C(/usr/lib/<multiarch>); other images (RHEL, UBI) need the toolkit's
    C(update-ldcache) hook or C(LD_LIBRARY_PATH). C(ldconfig -p) in the container lists
    the libraries only with the hook. See docs/cdi.md.
  - Device nodes that exist as character devices are written with their paths only and
    the runtime reads their numbers; nodes that are not (a capability node not created
    yet, a simulated host's files) get C(type), C(major) and C(minor), majors from
    C(/proc/devices) below O(dev_root).
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

- name: Spec for a driver installed under /usr/local/nvidia, without toolkit hooks
  gpuops.mig.cdi_spec:
    driver_root: /usr/local/nvidia
    hooks: none

- name: Management spec for monitoring containers
  gpuops.mig.cdi_spec:
    path: /var/run/cdi/management.nvidia.yaml
    discovery_mode: management

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

# first of the collection's imports: the others are then compiled once per host and cached
from ansible_collections.gpuops.mig.plugins.module_utils import _bytecode_cache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.gpuops.mig.plugins.module_utils._cdi import (
    DEFAULT_MODE,
    DISCOVERY_MODES,
    HOOK_CHOICES,
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
            kind=dict(type="str"),
            device_name_strategies=dict(
                type="list", elements="str", choices=list(NAME_STRATEGIES), default=list(DEFAULT_NAME_STRATEGIES)
            ),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            mode=dict(type="raw", default=DEFAULT_MODE),
            dev_root=dict(type="path"),
            mig_minors_path=dict(type="path"),
            driver_root=dict(type="path"),
            hooks=dict(type="str", choices=list(HOOK_CHOICES), default=HOOK_CHOICES[0]),
            hook_path=dict(type="path"),
            discovery_mode=dict(type="str", choices=list(DISCOVERY_MODES), default=DISCOVERY_MODES[0]),
            force=dict(type="bool", default=False),
            allow_writable_directory=dict(type="bool", default=False),
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
        lock="shared",
    )


if __name__ == "__main__":
    main()

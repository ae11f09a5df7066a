# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated host's file tree under ``state["root"]``: device nodes (regular empty
files standing in for character devices) and the driver's
``proc/driver/nvidia-caps/mig-minors`` table.

MIG capability minors follow the driver's static table (fabric-manager-and-cdi.md B3,
arithmetic INFERRED there but matching every published sample): config 1, monitor 2,
``gpu<G>/gi<I>/access`` = 3 + 135G + 9I, ``gpu<G>/gi<I>/ci<C>/access`` = 4 + 135G + 9I + C
for G (GPU minor) 0..31, I 0..14, C 0..7. Like nvidia-modprobe, the simulator creates
``dev/nvidia-caps/nvidia-cap<minor>`` for live GPU/compute instances only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from .._files import write_atomically

MAX_GPU_MINORS = 32
MAX_GPU_INSTANCES = 15
MAX_COMPUTE_INSTANCES = 8
CONFIG_MINOR = 1
MONITOR_MINOR = 2
CONTROL_NODES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
_NODE_MODE = 0o666
_CAP_MODE = 0o444


def gi_access_minor(gpu_minor, gi_id):
    return 3 + 135 * gpu_minor + 9 * gi_id


def ci_access_minor(gpu_minor, gi_id, ci_id):
    return 4 + 135 * gpu_minor + 9 * gi_id + ci_id


def root_paths(root):
    return {
        "root": root,
        "dev_root": root,
        "mig_minors_path": os.path.join(root, "proc", "driver", "nvidia-caps", "mig-minors"),
    }


def _caps_dir(root):
    return os.path.join(root, "dev", "nvidia-caps")


def mig_minors_text():
    lines = ["config %d" % CONFIG_MINOR, "monitor %d" % MONITOR_MINOR]
    for gpu_minor in range(MAX_GPU_MINORS):
        for gi_id in range(MAX_GPU_INSTANCES):
            lines.append("gpu%d/gi%d/access %d" % (gpu_minor, gi_id, gi_access_minor(gpu_minor, gi_id)))
            for ci_id in range(MAX_COMPUTE_INSTANCES):
                lines.append("gpu%d/gi%d/ci%d/access %d" % (gpu_minor, gi_id, ci_id, ci_access_minor(gpu_minor, gi_id, ci_id)))
    return "\n".join(lines) + "\n"


def _touch(path, mode):
    if not os.path.exists(path):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
        os.chmod(path, mode)


def build_tree(state):
    """Create the host's device nodes and mig-minors file (idempotent)."""
    root = state["root"]
    paths = root_paths(root)
    for directory in (os.path.join(root, "dev"), _caps_dir(root), os.path.dirname(paths["mig_minors_path"])):
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
    for name in CONTROL_NODES:
        _touch(os.path.join(root, "dev", name), _NODE_MODE)
    for gpu in state["gpus"]:
        _touch(os.path.join(root, "dev", "nvidia%d" % gpu["minor"]), _NODE_MODE)
    if not os.path.exists(paths["mig_minors_path"]):
        write_atomically(paths["mig_minors_path"], mig_minors_text(), 0o444, durable=False)
    sync_cap_nodes(state)


def sync_cap_nodes(state):
    """Make dev/nvidia-caps hold exactly config, monitor and the caps of live instances."""
    wanted = set([CONFIG_MINOR, MONITOR_MINOR])
    for gpu in state["gpus"]:
        for gpu_instance in gpu["gpu_instances"]:
            wanted.add(gi_access_minor(gpu["minor"], gpu_instance["gi_id"]))
            for compute_instance in gpu_instance["compute_instances"]:
                wanted.add(ci_access_minor(gpu["minor"], gpu_instance["gi_id"], compute_instance["ci_id"]))
    caps_dir = _caps_dir(state["root"])
    present = set()
    for name in os.listdir(caps_dir):
        if name.startswith("nvidia-cap") and name[len("nvidia-cap"):].isdigit():
            present.add(int(name[len("nvidia-cap"):]))
    for minor in present - wanted:
        os.unlink(os.path.join(caps_dir, "nvidia-cap%d" % minor))
    for minor in wanted - present:
        _touch(os.path.join(caps_dir, "nvidia-cap%d" % minor), _CAP_MODE)

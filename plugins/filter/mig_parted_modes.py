# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: mig_parted_modes
short_description: The MIG mode a mig-parted config wants for each GPU it selects
version_added: 1.0.0
author: gpuops maintainers (@gpuops)
description:
  - Reads a NVIDIA mig-parted v1 config (validated as M(gpuops.mig.mig_instance) validates it)
    and returns, for every GPU of O(gpus) that the config O(name) selects through C(devices)
    and C(device-filter), whether it wants MIG enabled.
  - GPUs the config does not select are left out. A GPU selected by two entries is an error.
options:
  _input:
    description: The parsed config document (a mapping with C(version) and C(mig-configs)).
    type: dict
    required: true
  name:
    description: The config to use; may be omitted when the document holds exactly one.
    type: str
  gpus:
    description: GPUs as M(gpuops.mig.gpu_info) returns them (C(index), C(pci_device_id)).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: GPUs whose MIG mode the all-balanced config turns on or off
  ansible.builtin.debug:
    msg: "{{ config | gpuops.mig.mig_parted_modes('all-balanced', inventory.gpus) }}"
"""

RETURN = r"""
_value:
  description: GPU index -> true (MIG enabled) or false (MIG disabled).
  type: dict
"""

from collections import namedtuple

from ansible.errors import AnsibleFilterError

from ansible_collections.gpuops.mig.plugins.module_utils._errors import MigError
from ansible_collections.gpuops.mig.plugins.module_utils._migparted import load

_Gpu = namedtuple("_Gpu", ["index", "pci_device_id"])


def mig_parted_modes(document, name, gpus):
    try:
        config = load(document, name or None)
        modes = {}
        for gpu in gpus:
            wanted = config.desired_for(_Gpu(int(gpu["index"]), int(str(gpu["pci_device_id"]), 16)))
            if wanted is not None:
                modes[int(gpu["index"])] = wanted[0]
        return modes
    except MigError as error:
        raise AnsibleFilterError("mig_parted_modes: %s" % error)
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError("mig_parted_modes: gpus must be gpu_info GPUs with index and pci_device_id (%s)" % error)


class FilterModule(object):
    def filters(self):
        return {"mig_parted_modes": mig_parted_modes}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: fabricmanager_cfg
short_description: Set keys in a Fabric Manager configuration file, keeping everything else
version_added: 1.0.0
author: gpuops maintainers (@gpuops)
description:
  - Takes the text of C(fabricmanager.cfg) (C(KEY=VALUE) lines, C(#) comments) and returns it
    with the given keys set.
  - Lines, comments and keys the settings do not name are kept byte for byte, in their order,
    so keys that newer Fabric Manager packages add survive. A key that is missing is appended.
  - Trailing whitespace around keys and values (the shipped file has C(FM_CMD_BIND_INTERFACE=127.0.0.1 ))
    is tolerated when reading.
  - A value of V(null) removes the key.
options:
  _input:
    description: Current file content (may be empty).
    type: str
    required: true
  settings:
    description: Keys to set. Values are written as given (booleans as C(1)/C(0)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Switch Fabric Manager to shared NVSwitch mode
  ansible.builtin.copy:
    dest: /usr/share/nvidia/nvswitch/fabricmanager.cfg
    content: "{{ current_cfg | gpuops.mig.fabricmanager_cfg({'FABRIC_MODE': 1}) }}"
    mode: "0644"
"""

RETURN = r"""
_value:
  description: The new file content, ending with a newline.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._fabric_host import set_config_keys


def fabricmanager_cfg(content, settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("fabricmanager_cfg: settings must be a dict, got %r" % (settings,))
    try:
        return set_config_keys(content, settings)
    except InputError as error:
        raise AnsibleFilterError("fabricmanager_cfg: %s" % error)


class FilterModule(object):
    def filters(self):
        return {
            "fabricmanager_cfg": fabricmanager_cfg,
        }

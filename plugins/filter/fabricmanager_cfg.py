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

import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*=(.*)$")


def _render_value(key, value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)) or isinstance(value, string_types):
        text = to_text(value).strip()
        if "\n" in text:
            raise AnsibleFilterError("fabricmanager_cfg: value of %s must be one line, got %r" % (key, value))
        return text
    raise AnsibleFilterError("fabricmanager_cfg: value of %s must be a string, number or boolean, got %r" % (key, value))


def fabricmanager_cfg(content, settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("fabricmanager_cfg: settings must be a dict, got %r" % (settings,))
    for key in settings:
        if not isinstance(key, string_types) or not _KEY.match(key):
            raise AnsibleFilterError(
                "fabricmanager_cfg: %r is not a Fabric Manager key (upper-case letters, digits and _)" % (key,)
            )
    pending = dict(settings)
    lines = []
    for line in to_text(content or "").splitlines():
        match = _ASSIGNMENT.match(line)
        key = match.group(1) if match else None
        if key in settings:
            if key not in pending:
                continue  # a duplicate of a key we already set: Fabric Manager reads one
            value = pending.pop(key)
            if value is None:
                continue
            rendered = "%s=%s" % (key, _render_value(key, value))
            unchanged = match.group(2).strip() == _render_value(key, value)
            lines.append(line if unchanged else rendered)
        else:
            lines.append(line)
    for key in settings:
        if key in pending and pending[key] is not None:
            lines.append("%s=%s" % (key, _render_value(key, pending[key])))
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {
            "fabricmanager_cfg": fabricmanager_cfg,
        }

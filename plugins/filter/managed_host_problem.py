# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: managed_host_problem
short_description: Say why a managed host cannot run gpuops.mig's modules, and the fix
version_added: 1.1.0
author: gpuops maintainers (@gpuops)
description:
  - Takes the result of a module that failed on a managed host (C(ansible_failed_result)
    in a C(rescue) block) and returns one sentence naming the host, what is wrong (no
    Python, C(become) refused, modules not running as root, or the module's own message)
    and what to do about it.
  - The C(gpuops.mig.mig) role uses it before it changes anything on a host.
options:
  _input:
    description: The failed task's result.
    type: dict
    required: true
  host:
    description: The host's inventory name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Check that the host runs modules
  block:
    - name: Run a module as root
      ansible.builtin.command:
        argv: [id, --user]
      changed_when: false
  rescue:
    - name: Explain why not
      ansible.builtin.fail:
        msg: "{{ ansible_failed_result | gpuops.mig.managed_host_problem(inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The explanation.
  type: str
"""

from ansible.errors import AnsibleFilterError

_BECOME_MARKERS = ("sudo", "become", "password", "privilege")
_NO_PYTHON_MARKERS = ("python", "interpreter")


def managed_host_problem(result, host):
    """One sentence: what keeps ``host`` from running the collection's modules, and the fix."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("managed_host_problem: expected a task result (a mapping), got %r" % (result,))
    failed_items = [item for item in result.get("results") or () if isinstance(item, dict) and item.get("failed")]
    if failed_items:  # a loop: what its first failed item says
        return managed_host_problem(failed_items[0], host)
    message = str(result.get("msg") or "").strip()
    if "feature_gates" in result:
        return message  # the module ran and said what is wrong itself
    output = " ".join(str(result.get(key) or "") for key in ("module_stdout", "module_stderr")).strip()
    text = (message + " " + output).lower()
    if result.get("rc") == 127 or ("not found" in text and any(marker in text for marker in _NO_PYTHON_MARKERS)):
        # the shell's own line, without the SSH and sudo chatter around it
        missing = [line.strip() for line in output.splitlines() if "not found" in line]
        return ("%s cannot run Ansible modules: no Python interpreter (%s). gpuops.mig's modules need Python 3.9 or "
                "later on the managed host: install python3 there, or set ansible_python_interpreter to one that exists"
                % (host, "; ".join(missing) or output or message))
    if any(marker in text for marker in _BECOME_MARKERS):
        return ("%s refused to run modules as root through become (%s). gpuops.mig changes GPUs and system files and "
                "needs root: give the remote user sudo without a password, or pass the become password "
                "(--ask-become-pass or ansible_become_password), or connect as root" % (host, message or output))
    return "%s cannot run gpuops.mig's modules: %s" % (host, message or output or "the module failed without a message")


class FilterModule(object):
    def filters(self):
        return {"managed_host_problem": managed_host_problem}

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nvml_wheel
short_description: The files an nvidia-ml-py wheel puts on a managed host for gpuops.mig
version_added: 1.1.0
author: gpuops maintainers (@gpuops)
description:
  - Reads an C(nvidia-ml-py) wheel on the controller (no C(pip) or C(unzip) needed anywhere)
    and returns the files the collection's modules look for first on a managed host,
    C(/opt/gpuops-mig/lib/pynvml.py) and the wheel's C(METADATA) (so the modules can check
    the version), each as C(dest) and C(content).
  - Fails when the file is not an C(nvidia-ml-py) wheel or the wheel is older than the
    collection needs (12.535).
  - The C(gpuops.mig.mig) role uses it for C(mig_nvml_wheel) on air-gapped hosts.
options:
  _terms:
    description: Path of the wheel on the controller (C(nvidia_ml_py-*.whl)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Place pynvml from a wheel
  ansible.builtin.copy:
    dest: "{{ item.dest }}"
    content: "{{ item.content }}"
    mode: "0644"
  loop: "{{ query('gpuops.mig.nvml_wheel', '/srv/wheels/nvidia_ml_py-13.615.71-py3-none-any.whl') }}"
  loop_control:
    label: "{{ item.dest }}"
"""

RETURN = r"""
_raw:
  description: One entry per file, with C(dest) (absolute path on the managed host) and C(content) (text).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gpuops.mig.plugins.module_utils._nvml_bindings import wheel_files


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if len(terms) != 1:
            raise AnsibleLookupError("nvml_wheel: give exactly one wheel path (got %d)" % len(terms))
        try:
            return wheel_files(terms[0])
        except ValueError as error:
            raise AnsibleLookupError(str(error))

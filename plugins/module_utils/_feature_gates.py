# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature gates: named switches for behaviour that is new, risky or site specific.

Every module takes ``feature_gates`` (gate name -> bool); ``resolve`` merges that with the
defaults below and rejects unknown names, so a typo never silently keeps a default. The
registry is data: adding a gate means adding one row here and reading it where it applies.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible.module_utils.parsing.convert_bool import boolean

from ._errors import InputError

FeatureGate = namedtuple("FeatureGate", ["name", "default", "description"])

GATES = (
    FeatureGate(
        "AutoEnableMig",
        False,
        "mig_instance may enable MIG mode itself on GPUs where the change needs no GPU reset.",
    ),
    FeatureGate(
        "ParallelReconfigure",
        True,
        "Reconfigure the selected GPUs of one host in parallel, one worker per GPU.",
    ),
    FeatureGate(
        "FabricAwarePlacement",
        False,
        "Choose MIG placements with the NVSwitch fabric partitions of the host in mind.",
    ),
    FeatureGate(
        "MigInFabricPartitions",
        True,
        "Allow MIG instances on GPUs of an active fabric partition (Hopper and later only).",
    ),
)

GATES_BY_NAME = dict((gate.name, gate) for gate in GATES)


def defaults():
    """Gate name -> default value."""
    return dict((gate.name, gate.default) for gate in GATES)


def resolve(user_gates):
    """Return every gate's effective value: the defaults overridden by ``user_gates``.

    Raises InputError naming the known gates for an unknown name, or for a value that is
    not a boolean.
    """
    effective = defaults()
    for name, value in sorted((user_gates or {}).items()):
        if name not in GATES_BY_NAME:
            raise InputError("feature_gates", name, "unknown feature gate", valid=sorted(GATES_BY_NAME))
        try:
            effective[name] = boolean(value, strict=True)
        except TypeError:
            raise InputError("feature_gates.%s" % name, value, "must be a boolean", valid=[True, False])
    return effective

"""Feature gates: defaults, overrides, and the errors users see for typos."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _feature_gates
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError


def test_no_user_gates_gives_every_documented_default():
    effective = _feature_gates.resolve(None)
    assert effective == {
        "AutoEnableMig": False,
        "ParallelReconfigure": True,
        "FabricAwarePlacement": False,
        "MigInFabricPartitions": True,
    }


def test_user_values_override_defaults_and_accept_ansible_booleans():
    effective = _feature_gates.resolve({"AutoEnableMig": "yes", "ParallelReconfigure": 0})
    assert effective["AutoEnableMig"] is True
    assert effective["ParallelReconfigure"] is False
    assert effective["MigInFabricPartitions"] is True


def test_unknown_gate_names_the_known_ones():
    with pytest.raises(InputError) as caught:
        _feature_gates.resolve({"AutoEnableMIG": True})
    message = str(caught.value)
    assert "feature_gates" in message and "AutoEnableMIG" in message
    for gate in _feature_gates.GATES:
        assert gate.name in message
    assert caught.value.details()["option"] == "feature_gates"


def test_non_boolean_value_is_rejected_with_the_gate_named():
    with pytest.raises(InputError) as caught:
        _feature_gates.resolve({"FabricAwarePlacement": "sometimes"})
    assert "feature_gates.FabricAwarePlacement" in str(caught.value)


def test_every_gate_is_documented_in_the_common_doc_fragment():
    from ansible_collections.gpuops.mig.plugins.doc_fragments.common import ModuleDocFragment

    for gate in _feature_gates.GATES:
        assert "V(%s)" % gate.name in ModuleDocFragment.DOCUMENTATION

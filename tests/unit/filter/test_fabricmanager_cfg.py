"""The fabricmanager.cfg filter keeps what it is not asked to change."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.gpuops.mig.plugins.filter.fabricmanager_cfg import fabricmanager_cfg

SHIPPED = """LOG_LEVEL=4
# 0 - bare metal, 1 - shared NVSwitch, 2 - vGPU
FABRIC_MODE=0
FM_CMD_BIND_INTERFACE=127.0.0.1\x20
PARTITION_RAIL_POLICY=greedy
"""


def test_sets_mode_and_keeps_unknown_keys_comments_and_order():
    result = fabricmanager_cfg(SHIPPED, {"FABRIC_MODE": 1})
    assert result.splitlines() == [
        "LOG_LEVEL=4",
        "# 0 - bare metal, 1 - shared NVSwitch, 2 - vGPU",
        "FABRIC_MODE=1",
        "FM_CMD_BIND_INTERFACE=127.0.0.1 ",
        "PARTITION_RAIL_POLICY=greedy",
    ]


def test_value_equal_after_stripping_keeps_the_line_untouched():
    assert fabricmanager_cfg(SHIPPED, {"FM_CMD_BIND_INTERFACE": "127.0.0.1"}) == SHIPPED


def test_rendering_is_idempotent():
    once = fabricmanager_cfg(SHIPPED, {"FABRIC_MODE": 2, "FM_CMD_UNIX_SOCKET_PATH": "/run/fm.sock"})
    assert fabricmanager_cfg(once, {"FABRIC_MODE": 2, "FM_CMD_UNIX_SOCKET_PATH": "/run/fm.sock"}) == once
    assert once.endswith("FM_CMD_UNIX_SOCKET_PATH=/run/fm.sock\n")


def test_booleans_and_removal():
    result = fabricmanager_cfg(SHIPPED, {"LOG_LEVEL": None, "DAEMONIZE": True})
    assert "LOG_LEVEL" not in result
    assert result.endswith("DAEMONIZE=1\n")


def test_duplicate_keys_collapse_to_the_one_set():
    result = fabricmanager_cfg("FABRIC_MODE=0\nFABRIC_MODE=2\n", {"FABRIC_MODE": 1})
    assert result == "FABRIC_MODE=1\n"


@pytest.mark.parametrize("settings", [{"fabric_mode": 1}, {"FABRIC MODE": 1}, {"FABRIC_MODE": "1\n2"}, {"X": [1]}, ["FABRIC_MODE"]])
def test_bad_settings_are_refused(settings):
    with pytest.raises(AnsibleFilterError):
        fabricmanager_cfg(SHIPPED, settings)

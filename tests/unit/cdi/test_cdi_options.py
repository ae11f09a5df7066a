"""Module options are validated before anything is read or written."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError


def test_defaults_are_the_documented_ones():
    options = _cdi.spec_options({})
    assert options.path == "/var/run/cdi/nvidia.yaml"
    assert options.kind == "nvidia.com/gpu"
    assert options.strategies == ("index", "uuid")
    assert options.state == "present"
    assert options.mode == 0o644
    assert options.dev_root is None and options.mig_minors_path is None


@pytest.mark.parametrize(
    "params, option",
    [
        ({"path": "/etc/cdi/nvidia.conf"}, "path"),
        ({"kind": "nvidia.com/"}, "kind"),
        ({"device_name_strategies": ["index", "bus-id"]}, "device_name_strategies"),
        ({"mode": "rw-r--r--"}, "mode"),
    ],
)
def test_bad_options_fail_naming_the_option(params, option):
    with pytest.raises(InputError) as raised:
        _cdi.spec_options(params)
    assert raised.value.option == option


def test_absent_accepts_any_file_name(tmp_path):
    stray = tmp_path / "nvidia.yaml.old"
    stray.write_text("x")
    options = _cdi.spec_options({"path": str(stray), "state": "absent"})
    result = _cdi.manage_spec(options, diff=True)
    assert result["changed"] is True and not stray.exists()
    assert result["devices"] == [] and result["cdi_version"] is None
    assert result["diff"]["after"] == ""

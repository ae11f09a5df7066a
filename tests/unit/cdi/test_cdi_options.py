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
    assert options.dev_root is None and options.mig_minors_path is None and options.driver_root is None
    assert (options.hooks, options.hook_path, options.discovery_mode) == ("auto", None, "nvml")
    assert options.force is False and options.allow_writable_directory is False
    assert _cdi.spec_options({"discovery_mode": "management"}).kind == "management.nvidia.com/gpu"


@pytest.mark.parametrize(
    "params, option",
    [
        ({"path": "/etc/cdi/nvidia.conf"}, "path"),
        ({"kind": "nvidia.com/"}, "kind"),
        ({"device_name_strategies": ["index", "bus-id"]}, "device_name_strategies"),
        ({"mode": "rw-r--r--"}, "mode"),
        ({"driver_root": "run/nvidia/driver"}, "driver_root"),
        ({"hooks": "always"}, "hooks"),
        ({"hooks": "none", "hook_path": "/usr/bin/nvidia-cdi-hook"}, "hook_path"),
        ({"hook_path": "nvidia-ctk"}, "hook_path"),
        ({"discovery_mode": "csv"}, "discovery_mode"),
    ],
)
def test_bad_options_fail_naming_the_option(params, option):
    with pytest.raises(InputError) as raised:
        _cdi.spec_options(params)
    assert raised.value.option == option


@pytest.mark.parametrize("state", ["present", "absent"])
def test_path_must_be_absolute_and_is_normalised(state):
    with pytest.raises(InputError) as raised:
        _cdi.spec_options({"path": "cdi/nvidia.yaml", "state": state})
    assert raised.value.option == "path" and "absolute" in str(raised.value)
    assert _cdi.spec_options({"path": "/etc/cdi/../cdi//nvidia.yaml", "state": state}).path == "/etc/cdi/nvidia.yaml"


def test_absent_refuses_a_file_name_no_cdi_loader_reads(tmp_path):
    stray = tmp_path / "nvidia.yaml.old"
    stray.write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\n")
    with pytest.raises(InputError) as raised:
        _cdi.spec_options({"path": str(stray), "state": "absent"})
    assert raised.value.option == "path"
    assert stray.exists()


@pytest.mark.parametrize("content", ["root:x:0:0:root:/root:/bin/bash\n", "version: v1\nmig-configs: {}\n", "- a\n- b\n", ""])
def test_absent_never_removes_a_file_that_is_not_a_cdi_spec(tmp_path, content):
    other = tmp_path / "config.yaml"
    other.write_text(content)
    options = _cdi.spec_options({"path": str(other), "state": "absent"})
    with pytest.raises(InputError) as raised:
        _cdi.manage_spec(options)
    assert raised.value.option == "path" and "not a CDI spec" in str(raised.value)
    assert other.read_text() == content


def test_absent_removes_a_spec_even_one_this_collection_would_not_write(tmp_path):
    """Any file with cdiVersion and kind is a spec to remove, valid or not (an old one may not validate)."""
    spec = tmp_path / "nvidia.yaml"
    spec.write_text("cdiVersion: 0.1.0\nkind: nvidia.com/gpu\ndevices: []\nunknownField: 1\n")
    options = _cdi.spec_options({"path": str(spec), "state": "absent"})
    result = _cdi.manage_spec(options, diff=True)
    assert result["changed"] is True and not spec.exists()
    assert result["devices"] == [] and result["cdi_version"] is None
    assert result["diff"]["after"] == ""

"""Writing, comparing and removing spec files: format by extension, atomic replacement,
explicit mode, changed only when the meaning changes, check mode, diff."""

import json
import os
import stat

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from cdi_hosts import dgx_h100_full, dgx_h100_mixed, driver_mig_minors


def _mixed_spec(**options):
    gpus, migs = dgx_h100_mixed()
    return _cdi.build_spec(gpus, migs, mig_minors=_cdi.parse_mig_minors(driver_mig_minors()), **options)


def _mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


@pytest.mark.parametrize(
    "name, loader", [("nvidia.yaml", yaml.safe_load), ("nvidia.yml", yaml.safe_load), ("nvidia.json", json.loads)]
)
def test_format_follows_the_extension_and_reads_back_to_the_same_spec(tmp_path, name, loader):
    path = tmp_path / name
    spec = _mixed_spec()
    changed, before = _cdi.ensure_spec(str(path), spec, 0o644)
    assert (changed, before) == (True, None)
    assert loader(path.read_text()) == spec
    assert _mode(path) == 0o644


def test_yaml_keeps_numeric_looking_names_as_strings(tmp_path):
    path = tmp_path / "nvidia.yaml"
    gpus, migs = dgx_h100_mixed()
    migs = [m._replace(gpu_index=1, mig_index=i) for i, m in enumerate(migs[:2])]
    gpus = [gpus[0]._replace(mig_current=False), gpus[1]._replace(mig_current=True)]
    minors = _cdi.parse_mig_minors(driver_mig_minors())
    _cdi.ensure_spec(str(path), _cdi.build_spec(gpus, migs, strategies=["index"], mig_minors=minors), 0o644)
    text = path.read_text()
    assert text.splitlines()[2] == "---"  # after the fingerprint lines
    assert '- name: "1:0"' in text  # quoted: a YAML 1.1 reader takes a bare 1:0 for the number 60
    assert [device["name"] for device in yaml.safe_load(text)["devices"]] == ["0", "1:0", "1:1", "all"]


def test_explicit_mode_is_applied(tmp_path):
    path = tmp_path / "nvidia.json"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o600)
    assert _mode(path) == 0o600


def test_same_content_is_not_rewritten(tmp_path):
    path = tmp_path / "nvidia.yaml"
    spec = _mixed_spec()
    _cdi.ensure_spec(str(path), spec, 0o644)
    inode = os.stat(str(path)).st_ino
    changed, before = _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert changed is False
    assert before == spec
    assert os.stat(str(path)).st_ino == inode


def test_an_unchanged_yaml_spec_is_known_by_its_fingerprint_without_parsing(tmp_path, monkeypatch):
    path = tmp_path / "nvidia.yaml"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert path.read_text().startswith("# gpuops.mig spec sha256:")

    def no_parsing(text, path):
        raise AssertionError("parsed a spec its fingerprint describes")

    monkeypatch.setattr(_cdi, "_parse", no_parsing)
    changed, before = _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert changed is False
    assert before == _mixed_spec()


def test_a_spec_edited_under_its_fingerprint_is_read_and_rewritten(tmp_path):
    path = tmp_path / "nvidia.yaml"
    spec = _mixed_spec()
    _cdi.ensure_spec(str(path), spec, 0o644)
    edited = path.read_text().replace("/dev/nvidiactl", "/dev/null")
    assert edited != path.read_text()
    path.write_text(edited)  # the fingerprint lines still name the spec written
    changed, before = _cdi.ensure_spec(str(path), spec, 0o644)
    assert changed is True
    assert "/dev/null" in json.dumps(before)
    assert yaml.safe_load(path.read_text()) == spec


def test_a_fingerprint_of_another_spec_is_a_change(tmp_path):
    path = tmp_path / "nvidia.yaml"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    gpus, dummy = dgx_h100_full()
    new = _cdi.build_spec(gpus, [])
    assert _cdi.ensure_spec(str(path), new, 0o644)[0] is True
    assert yaml.safe_load(path.read_text()) == new


def test_key_order_formatting_and_device_order_are_not_changes(tmp_path):
    path = tmp_path / "nvidia.json"
    spec = _mixed_spec()
    shuffled = dict(spec, devices=list(reversed(spec["devices"])))
    path.write_text(json.dumps(shuffled, sort_keys=True, indent=7))
    os.chmod(str(path), 0o644)
    before_text = path.read_text()
    changed, dummy = _cdi.ensure_spec(str(path), spec, 0o644)
    assert changed is False
    assert path.read_text() == before_text


def test_yaml_written_by_another_tool_with_the_same_content_is_not_a_change(tmp_path):
    path = tmp_path / "nvidia.yaml"
    spec = _mixed_spec()
    path.write_text(yaml.safe_dump(spec, default_flow_style=True, sort_keys=True, indent=4))
    os.chmod(str(path), 0o644)
    assert _cdi.ensure_spec(str(path), spec, 0o644)[0] is False


def test_changed_content_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "nvidia.yaml"
    old = _mixed_spec()
    _cdi.ensure_spec(str(path), old, 0o644)
    inode = os.stat(str(path)).st_ino
    gpus, dummy = dgx_h100_full()
    new = _cdi.build_spec(gpus, [])
    changed, before = _cdi.ensure_spec(str(path), new, 0o644)
    assert changed is True
    assert before == old
    assert yaml.safe_load(path.read_text()) == new
    assert os.stat(str(path)).st_ino != inode  # a new file renamed over the old one
    assert sorted(os.listdir(str(tmp_path))) == ["nvidia.yaml"]  # no temporary left behind


def test_wrong_mode_alone_is_fixed_in_place(tmp_path):
    path = tmp_path / "nvidia.yaml"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o600)
    inode = os.stat(str(path)).st_ino
    assert _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)[0] is True
    assert _mode(path) == 0o644
    assert os.stat(str(path)).st_ino == inode


def test_unparsable_file_is_kept_unless_forced(tmp_path):
    path = tmp_path / "nvidia.yaml"
    path.write_text("devices: [unclosed\n")
    with pytest.raises(InputError) as raised:
        _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert raised.value.option == "path" and "force=true" in str(raised.value)
    assert path.read_text() == "devices: [unclosed\n"
    changed, before = _cdi.ensure_spec(str(path), _mixed_spec(), 0o644, force=True)
    assert changed is True and before == {}
    assert yaml.safe_load(path.read_text()) == _mixed_spec()


def test_missing_directories_are_created(tmp_path):
    path = tmp_path / "var" / "run" / "cdi" / "nvidia.yaml"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert path.exists()
    assert _mode(path.parent) == 0o755


def test_check_mode_reports_the_change_without_writing(tmp_path):
    path = tmp_path / "nvidia.yaml"
    assert _cdi.ensure_spec(str(path), _mixed_spec(), 0o644, check_mode=True) == (True, None)
    assert not path.exists()
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert _cdi.ensure_spec(str(path), _mixed_spec(), 0o644, check_mode=True)[0] is False


def test_invalid_spec_is_refused_before_the_file_is_touched(tmp_path):
    path = tmp_path / "nvidia.yaml"
    path.write_text("keep me\n")
    broken = dict(_mixed_spec(), cdiVersion="0.3.0")
    with pytest.raises(_cdi.CdiError) as raised:
        _cdi.ensure_spec(str(path), broken, 0o644)
    assert "needs at least 0.5.0" in str(raised.value)
    assert path.read_text() == "keep me\n"


def test_remove_spec(tmp_path):
    path = tmp_path / "nvidia.json"
    _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert _cdi.remove_spec(str(path), "nvidia.com/gpu", check_mode=True)[0] is True
    assert path.exists()
    changed, before = _cdi.remove_spec(str(path))
    assert changed is True and before == _mixed_spec()
    assert not path.exists()
    assert _cdi.remove_spec(str(path)) == (False, None)


@pytest.mark.parametrize("name", ["nvidia.txt", "nvidia", "nvidia.yaml.bak"])
def test_unknown_extension_fails_naming_path_and_formats(name):
    with pytest.raises(InputError) as raised:
        _cdi.spec_format(name)
    assert raised.value.option == "path"
    assert raised.value.valid == [".json", ".yaml", ".yml"]


def test_without_pyyaml_yaml_paths_fail_clearly_and_json_still_works(tmp_path, monkeypatch):
    monkeypatch.setattr(_cdi, "HAS_YAML", False)
    with pytest.raises(InputError) as raised:
        _cdi.spec_format("/etc/cdi/nvidia.yaml")
    assert "PyYAML" in str(raised.value)
    path = tmp_path / "nvidia.json"
    assert _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)[0] is True
    assert _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)[0] is False


@pytest.mark.parametrize(
    "given, mode", [("0644", 0o644), ("644", 0o644), ("0600", 0o600), (0o640, 0o640), ("0664", 0o664), ("0755", 0o755)]
)
def test_mode_accepts_octal_strings_and_parsed_integers(given, mode):
    assert _cdi.parse_mode(given) == mode


@pytest.mark.parametrize("given", ["u=rw,g=r", "0o644", "999", "", True, 0o17777, -1])
def test_bad_mode_fails_naming_the_option(given):
    with pytest.raises(InputError) as raised:
        _cdi.parse_mode(given)
    assert raised.value.option == "mode"


@pytest.mark.parametrize("given", ["0666", "0646", "0777", "4755", "2755", "1777", "1644", 0o4644, 0o602])
def test_modes_that_let_others_write_or_escalate_are_refused(given):
    """The container runtime runs a spec's hooks as root: others must not be able to rewrite it."""
    with pytest.raises(InputError) as raised:
        _cdi.parse_mode(given)
    assert raised.value.option == "mode" and "0644" in str(raised.value)


def test_diff_lists_devices_with_their_nodes_before_and_after():
    old = _mixed_spec(strategies=["index"])
    gpus, dummy = dgx_h100_full()
    new = _cdi.build_spec(gpus, [], strategies=["index"])
    diff = _cdi.spec_diff("/etc/cdi/nvidia.yaml", old, new)
    assert diff["before_header"] == diff["after_header"] == "/etc/cdi/nvidia.yaml"
    assert "0:0: /dev/nvidia0 /dev/nvidia-caps/nvidia-cap21 /dev/nvidia-caps/nvidia-cap22\n" in diff["before"]
    assert "0:0:" not in diff["after"]
    assert "0: /dev/nvidia0\n" in diff["after"]
    assert _cdi.spec_diff("/x.yaml", None, new)["before"] == ""


def test_foreign_yaml_with_odd_values_is_replaced_not_crashed_on(tmp_path):
    path = tmp_path / "nvidia.yaml"
    path.write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ncreated: 2024-01-01\ndevices: [{name: x, containerEdits: []}]\n")
    changed, before = _cdi.ensure_spec(str(path), _mixed_spec(), 0o644)
    assert changed is True
    assert "x: \n" in _cdi.spec_diff(str(path), before, _mixed_spec())["before"]
    assert yaml.safe_load(path.read_text()) == _mixed_spec()

"""gpuops.mig.cdi_spec through ansible-playbook against a simulated DGX H100: the spec
follows MIG layout changes with the capability minors of the host's mig-minors file,
mounts the simulated driver's files, is idempotent, supports check and diff mode, and
removes itself with state=absent; mig_instance's cdi_spec option (the same code path) keeps
it listing exactly the devices that exist."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "cdi"))
from cdi_hosts import official_schema_validator  # noqa: E402  (shared with the unit tests)

PLAYBOOK = Path(__file__).resolve().parent / "playbooks" / "cdi_spec.yml"


def set_layout(simulator, index, profile_names):
    """Replace the MIG instances of GPU ``index`` by one GPU instance per profile name, each
    with its default compute instance (MIG mode enabled first if needed)."""
    with Hardware(simulator=simulator) as hardware:
        if not hardware.device(index).mig_current:
            if hardware.set_mig_mode(index, True) is not None:
                hardware.reset_gpu(index)
        for gpu_instance in hardware.gpu_instances(index):
            for compute_instance in gpu_instance.compute_instances:
                hardware.destroy_compute_instance(index, gpu_instance.gi_id, compute_instance.ci_id)
            hardware.destroy_gpu_instance(index, gpu_instance.gi_id)
        profiles = dict((profile.name, profile) for profile in hardware.gpu_instance_profiles(index))
        for name in profile_names:
            gpu_instance = hardware.create_gpu_instance(index, profiles[name].profile_id)
            default = next(p for p in hardware.compute_instance_profiles(index, gpu_instance.gi_id) if p.is_default)
            hardware.create_compute_instance(index, gpu_instance.gi_id, default.profile_id)


def live_state(simulator):
    with Hardware(simulator=simulator) as hardware:
        gpus = hardware.devices()
        migs = [mig for gpu in gpus if gpu.mig_current for mig in hardware.mig_devices(gpu.index)]
        return gpus, migs, hardware.dev_root, hardware.mig_minors_path


def minors_file(path):
    """Capability name -> minor, read straight from the host's mig-minors text."""
    pairs = (line.rsplit(" ", 1) for line in Path(path).read_text().splitlines() if line.strip())
    return dict((name, int(minor)) for name, minor in pairs)


@pytest.fixture
def host(tmp_path):
    simulator = str(tmp_path / "dgx-h100.json")
    simulated_host.create_host(simulator, "dgx-h100")
    return simulator


@pytest.fixture
def cdi(tmp_path, host, playbook_runner):
    """Run the playbook with the given extra vars; return the module result dict."""

    def run(check=False, diff=False, **options):
        result_file = tmp_path / "result.json"
        if result_file.exists():
            result_file.unlink()
        extra = {"simulator": host, "spec_path": str(tmp_path / "cdi" / "nvidia.yaml"), "result_file": str(result_file)}
        extra.update(options)
        completed = playbook_runner(PLAYBOOK, extra_vars=extra, check=check, diff=diff)
        assert completed.returncode == 0, completed.stdout + completed.stderr
        result = json.loads(result_file.read_text())
        result["_stdout"] = completed.stdout
        return result

    return run


def _spec_file(tmp_path):
    return yaml.safe_load((tmp_path / "cdi" / "nvidia.yaml").read_text())


def _assert_valid(spec):
    assert _cdi.spec_problems(spec) == []
    validator = official_schema_validator()
    if validator is not None:
        assert [error.message for error in validator.iter_errors(spec)] == []


def _assert_spec_matches_host(spec, simulator):
    """Exactly the host's MIG devices (index and uuid names) with the capability minors of
    its mig-minors file, every GPU not in MIG mode as a full GPU, and the all device."""
    gpus, migs, dev_root, mig_minors_path = live_state(simulator)
    minors = minors_file(mig_minors_path)
    by_index = dict((gpu.index, gpu) for gpu in gpus)
    expected = {}
    for gpu in gpus:
        if not gpu.mig_current:
            nodes = ["/dev/nvidia%d" % gpu.minor]
            expected[str(gpu.index)] = expected[gpu.uuid] = nodes
    for mig in migs:
        minor = by_index[mig.gpu_index].minor
        nodes = [
            "/dev/nvidia%d" % minor,
            "/dev/nvidia-caps/nvidia-cap%d" % minors["gpu%d/gi%d/access" % (minor, mig.gi_id)],
            "/dev/nvidia-caps/nvidia-cap%d" % minors["gpu%d/gi%d/ci%d/access" % (minor, mig.gi_id, mig.ci_id)],
        ]
        expected["%d:%d" % (mig.gpu_index, mig.mig_index)] = expected[mig.uuid] = nodes
    devices = dict((d["name"], d["containerEdits"]["deviceNodes"]) for d in spec["devices"] if d["name"] != "all")
    assert sorted(devices) == sorted(expected)
    for name, nodes in devices.items():
        assert [node["path"] for node in nodes] == expected[name], name
        for node in nodes:  # host paths point into the simulated host's root, and exist there
            assert node["hostPath"] == os.path.join(dev_root, node["path"].lstrip("/"))
            assert os.path.exists(node["hostPath"]), node
    _assert_driver_mounts(spec, simulator)
    _assert_valid(spec)
    return migs


def _assert_driver_mounts(spec, simulator):
    """Every mount comes from the simulated driver root and exists there; libcuda and
    libnvidia-ml are there under their versioned name and their SONAME."""
    with Hardware(simulator=simulator) as hardware:
        driver_root, version = hardware.driver_root, hardware.driver_version()
    mounts = dict((mount["containerPath"], mount["hostPath"]) for mount in spec["containerEdits"]["mounts"])
    assert all(host.startswith(driver_root + "/") and os.path.isfile(host) for host in mounts.values()), mounts
    for library in ("libcuda.so", "libnvidia-ml.so"):
        names = [os.path.basename(path) for path in mounts if os.path.basename(path).startswith(library + ".")]
        assert sorted(names) == [library + ".1", "%s.%s" % (library, version)]
    assert "/usr/bin/nvidia-smi" in mounts


def test_spec_follows_a_mig_layout_change_and_is_idempotent(tmp_path, host, cdi):
    set_layout(host, 0, ["3g.40gb", "2g.20gb", "1g.10gb"])
    set_layout(host, 1, ["4g.40gb"])
    first = cdi()
    assert first["changed"] is True and first["backend"] == "simulator"
    spec = _spec_file(tmp_path)
    old_migs = _assert_spec_matches_host(spec, host)
    assert len(old_migs) == 4
    assert first["devices"] == _cdi.device_names(spec)
    assert first["cdi_version"] == spec["cdiVersion"] == "0.5.0"
    assert stat.S_IMODE(os.stat(str(tmp_path / "cdi" / "nvidia.yaml")).st_mode) == 0o644

    set_layout(host, 0, ["1g.10gb"] * 7)
    set_layout(host, 2, ["7g.80gb"])
    second = cdi()
    assert second["changed"] is True
    new_migs = _assert_spec_matches_host(_spec_file(tmp_path), host)
    assert len(new_migs) == 9
    assert not set(m.uuid for m in old_migs if m.gpu_index == 0) & set(second["devices"])

    third = cdi()
    assert third["changed"] is False
    assert third["devices"] == second["devices"]


def _diff_devices(text):
    """Device name -> its node list, from one side of the module's diff."""
    pairs = (line.split(": ", 1) for line in text.splitlines())
    return dict(pair for pair in pairs if pair[0] not in ("cdiVersion", "kind"))


def test_check_and_diff_mode_show_the_device_change_without_writing(tmp_path, host, cdi):
    set_layout(host, 0, ["7g.80gb"])
    cdi()
    before = (tmp_path / "cdi" / "nvidia.yaml").read_text()
    set_layout(host, 0, ["3g.40gb", "3g.40gb"])
    checked = cdi(check=True, diff=True)
    assert checked["changed"] is True
    assert (tmp_path / "cdi" / "nvidia.yaml").read_text() == before
    old, new = _diff_devices(checked["diff"]["before"]), _diff_devices(checked["diff"]["after"])
    assert [name for name in old if name.startswith("0:")] == ["0:0"]
    assert [name for name in new if name.startswith("0:")] == ["0:0", "0:1"]
    assert old["0:0"] != new["0:0"]  # another GPU instance now stands behind the same name
    assert "+0:1: /dev/nvidia0 /dev/nvidia-caps/" in checked["_stdout"]  # printed by --diff
    assert cdi()["changed"] is True


def test_json_path_type_index_names_and_mode(tmp_path, host, cdi):
    set_layout(host, 3, ["2g.20gb"])
    path = str(tmp_path / "cdi" / "nvidia.json")
    result = cdi(spec_path=path, strategies=["type-index"], spec_mode="0600")
    spec = json.loads(Path(path).read_text())
    assert result["devices"] == _cdi.device_names(spec)
    assert "mig3:0" in result["devices"] and "gpu0" in result["devices"] and "3" not in result["devices"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    _assert_valid(spec)


def test_state_absent_removes_the_spec(tmp_path, cdi):
    cdi()
    assert (tmp_path / "cdi" / "nvidia.yaml").exists()
    assert cdi(spec_state="absent")["changed"] is True
    assert not (tmp_path / "cdi" / "nvidia.yaml").exists()
    again = cdi(spec_state="absent")
    assert again["changed"] is False and again["devices"] == []


def test_missing_mig_minors_with_mig_devices_fails_and_writes_nothing(tmp_path, host, cdi):
    set_layout(host, 0, ["1g.10gb"])
    missing = str(tmp_path / "no-such-mig-minors")
    result = cdi(mig_minors_path=missing)
    assert result["failed"] is True
    assert missing in result["msg"] and "does not exist" in result["msg"]
    assert not (tmp_path / "cdi" / "nvidia.yaml").exists()


@pytest.mark.parametrize(
    "options, option, value",
    [
        ({"spec_kind": "nvidia.com"}, "kind", "nvidia.com"),
        ({"strategies": ["index", "serial"]}, "device_name_strategies", "serial"),
    ],
)
def test_bad_input_fails_naming_option_and_value(tmp_path, cdi, options, option, value):
    result = cdi(**options)
    assert result["failed"] is True
    assert option in result["msg"] and value in result["msg"]
    assert not (tmp_path / "cdi").exists()


def test_mig_instance_keeps_the_spec_listing_exactly_the_devices_that_exist(tmp_path, host, playbook_runner):
    """A layout change through mig_instance (cdi_spec option) rewrites the spec in the same
    pass; a second run changes nothing; the file is what cdi_spec itself writes."""
    spec = tmp_path / "cdi" / "nvidia.yaml"
    playbook = tmp_path / "layouts.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Two layouts through mig_instance",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/gpuops.mig.mig": {"simulator": host}},
        "tasks": [
            {"name": "Layout %s" % number, "gpuops.mig.mig_instance": {
                "gpus": ["0"], "layout": layout, "apply_mig_mode": True, "cdi_spec": {"path": str(spec)}},
             "register": "run%s" % number}
            for number, layout in (("1", ["3g.40gb", "3g.40gb"]), ("2", ["1g.10gb"] * 3), ("3", ["1g.10gb"] * 3))
        ] + [{"name": "Check", "ansible.builtin.assert": {"that": [
            "run1.cdi_spec.changed and run2.cdi_spec.changed",
            "run3 is not changed and not run3.cdi_spec.changed",
        ]}}],
    }]))
    completed = playbook_runner(playbook)
    assert completed.returncode == 0, completed.stdout[-4000:]
    migs = _assert_spec_matches_host(yaml.safe_load(spec.read_text()), host)
    assert sorted(mig.profile_name for mig in migs) == ["1g.10gb"] * 3


def test_driver_root_without_a_driver_fails_naming_what_was_looked_for(tmp_path, host, cdi):
    empty = tmp_path / "no-driver"
    empty.mkdir()
    result = cdi(driver_root=str(empty))
    assert result["failed"] is True and result["option"] == "driver_root"
    assert "libcuda.so.570.172.08" in result["msg"] and str(empty) in result["msg"]
    assert not (tmp_path / "cdi").exists()


def test_management_spec_has_one_device_with_every_node(tmp_path, host, cdi):
    set_layout(host, 0, ["3g.40gb", "1g.10gb"])
    path = tmp_path / "cdi" / "management.yaml"
    result = cdi(spec_path=str(path), discovery_mode="management")
    assert result["devices"] == ["all"] and result["kind"] == "management.nvidia.com/gpu"
    spec = yaml.safe_load(path.read_text())
    paths = [node["path"] for node in spec["devices"][0]["containerEdits"]["deviceNodes"]]
    assert paths[:8] == ["/dev/nvidia%d" % index for index in range(8)]
    assert len([p for p in paths if p.startswith("/dev/nvidia-caps/")]) == 2 + 2 * 2  # config, monitor, GI + CI caps
    _assert_valid(spec)

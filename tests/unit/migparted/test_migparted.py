"""mig-parted v1 configs: what a user's file means for each GPU, and every way it can be wrong."""

from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _migparted
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError
from ansible_collections.gpuops.mig.plugins.module_utils._migparted import ConfigError, load, render
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuDevice

CONFIGS = Path(__file__).parent / "configs"
DEFAULT_STYLE = str(CONFIGS / "default-style.yaml")

# PCI device ids (reference/mig-profiles.md section 8)
A100_40GB = 0x20B010DE
A100_80GB = 0x20B210DE
A30 = 0x20B710DE
H100_SXM = 0x233010DE
H100_PCIE = 0x233110DE
RTX_PRO_6000 = 0x2BB510DE
L40S = 0x26B510DE  # not MIG capable, named in no config


def gpu(index, pci_device_id=H100_SXM):
    return GpuDevice(
        index=index,
        uuid="GPU-%08d" % index,
        name="test GPU",
        pci_bus_id="00000000:%02X:00.0" % index,
        pci_device_id=pci_device_id,
        architecture=9,
        module_id=index + 1,
        minor=index,
        memory_mb=81559,
        mig_current=False,
        mig_pending=False,
    )


@pytest.fixture(params=["pyyaml", "builtin"])
def yaml_reader(request, monkeypatch):
    """Run a test with PyYAML and again with the built-in reader hosts without PyYAML use."""
    if request.param == "builtin":
        monkeypatch.setattr(_migparted, "HAS_PYYAML", False)
    return request.param


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


# ------------------------------------------------------------------ meaning per GPU


def test_balanced_config_gives_each_model_its_own_layout(yaml_reader):
    config = load(DEFAULT_STYLE, "all-balanced")
    assert config.desired_for(gpu(0, A100_40GB)) == (True, {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1})
    assert config.desired_for(gpu(1, A100_80GB)) == (True, {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1})
    assert config.desired_for(gpu(2, H100_PCIE)) == (True, {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1})
    assert config.desired_for(gpu(3, RTX_PRO_6000)) == (True, {"1g.24gb": 2, "2g.48gb": 1})


def test_a_single_string_device_filter_selects_that_model(yaml_reader):
    config = load(DEFAULT_STYLE, "all-balanced")
    assert config.desired_for(gpu(0, A30)) == (True, {"1g.6gb": 2, "2g.12gb": 1})


def test_a_model_no_entry_names_is_left_alone(yaml_reader):
    assert load(DEFAULT_STYLE, "all-balanced").desired_for(gpu(0, L40S)) is None


def test_same_profile_name_means_different_counts_per_model(yaml_reader):
    config = load(DEFAULT_STYLE, "all-1g.10gb")
    assert config.desired_for(gpu(0, H100_SXM)) == (True, {"1g.10gb": 7})
    assert config.desired_for(gpu(0, A100_40GB)) == (True, {"1g.10gb": 4})


def test_disabled_and_enabled_without_instances(yaml_reader):
    assert load(DEFAULT_STYLE, "all-disabled").desired_for(gpu(5, L40S)) == (False, {})
    assert load(DEFAULT_STYLE, "all-enabled").desired_for(gpu(5, H100_SXM)) == (True, {})


def test_devices_list_selects_only_those_indices(yaml_reader):
    config = load(str(CONFIGS / "custom.yaml"), "split-inference-training")
    wanted = [config.desired_for(gpu(index)) for index in range(5)]
    assert wanted == [(True, {"1g.10gb": 7}), (True, {"1g.10gb": 7}), (False, {}), (False, {}), None]


def test_compute_instance_names_and_other_spellings_are_canonical(yaml_reader):
    config = load(str(CONFIGS / "custom.yaml"), "compute-instances")
    assert config.desired_for(gpu(0)) == (True, {"1c.3g.40gb": 1, "2c.3g.40gb": 1})
    assert config.desired_for(gpu(1)) == (True, {"4g.40gb": 1, "1g.10gb+me": 1, "2g.20gb": 1})


def test_spelling_variants_of_names_are_normalised(tmp_path, yaml_reader):
    path = write(
        tmp_path,
        'version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n'
        '      mig-devices: {"MIG 1G.10GB": 2, "nvidia.com/mig-3g.40gb": 1}\n',
    )
    assert load(path, "c").desired_for(gpu(0)) == (True, {"1g.10gb": 2, "3g.40gb": 1})


def test_device_filter_spanning_lines_with_comments(yaml_reader):
    config = load(str(CONFIGS / "custom.yaml"), "wrapped-filter")
    assert config.desired_for(gpu(0, H100_PCIE)) == (True, {"7g.80gb": 1})
    assert config.desired_for(gpu(0, A100_80GB)) is None


@pytest.mark.parametrize("written", ['"0x20b010de"', '"0X20B010DE"', "0x20B010DE", '["0x20B010DE"]'])
def test_device_filter_spellings(tmp_path, yaml_reader, written):
    path = write(
        tmp_path,
        "version: v1\nmig-configs:\n  c:\n    - device-filter: %s\n      devices: all\n"
        "      mig-enabled: true\n      mig-devices: {1g.5gb: 7}\n" % written,
    )
    config = load(path, "c")
    assert config.desired_for(gpu(0, A100_40GB)) == (True, {"1g.5gb": 7})
    assert config.desired_for(gpu(0, A100_80GB)) is None


def test_zero_counts_ask_for_nothing(tmp_path, yaml_reader):
    path = write(
        tmp_path,
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n"
        "      mig-devices: {1g.5gb: 0, 3g.20gb: 2}\n",
    )
    assert load(path, "c").desired_for(gpu(0)) == (True, {"3g.20gb": 2})


def test_a_file_with_one_config_needs_no_name(yaml_reader):
    config = load(str(CONFIGS / "single.yaml"))
    assert config.name == "only-one"
    assert config.desired_for(gpu(3)) == (True, {"1g.5gb": 7})


def test_text_and_parsed_documents_work_like_files(yaml_reader):
    text = (CONFIGS / "custom.yaml").read_text()
    from_text = load(text, "compute-instances")
    from_mapping = load(_migparted.parse_yaml(text), "compute-instances")
    from_file = load(str(CONFIGS / "custom.yaml"), "compute-instances")
    for config in (from_text, from_mapping):
        assert [config.desired_for(gpu(index)) for index in range(3)] == [from_file.desired_for(gpu(index)) for index in range(3)]


@pytest.mark.parametrize("fixture", sorted(path.name for path in CONFIGS.glob("*.yaml")))
def test_builtin_reader_reads_fixtures_exactly_as_pyyaml(fixture):
    text = (CONFIGS / fixture).read_text()
    assert _migparted._read_yaml_subset(text) == _migparted.parse_yaml(text)


# ------------------------------------------------------------------ errors


def test_unknown_config_name_lists_the_available_ones(yaml_reader):
    with pytest.raises(ConfigError) as caught:
        load(DEFAULT_STYLE, "all-balance")
    message = str(caught.value)
    assert DEFAULT_STYLE in message and "'all-balance' not found" in message
    assert caught.value.valid == ["all-1g.10gb", "all-3g.40gb", "all-balanced", "all-disabled", "all-enabled"]
    assert isinstance(caught.value, InputError) and caught.value.details()["option"] == "mig_parted_config"


def test_name_required_when_the_file_holds_several_configs(yaml_reader):
    with pytest.raises(ConfigError, match="holds 5 configs, name the one to apply"):
        load(DEFAULT_STYLE)


def test_overlapping_entries_name_the_gpu_and_both_entries(tmp_path, yaml_reader):
    path = write(
        tmp_path,
        "version: v1\nmig-configs:\n  overlap:\n"
        "    - devices: all\n      mig-enabled: false\n"
        "    - device-filter: 0x233010DE\n      devices: [1]\n      mig-enabled: true\n      mig-devices: {7g.80gb: 1}\n",
    )
    config = load(path, "overlap")
    assert config.desired_for(gpu(1, A100_40GB)) == (False, {})  # the filter keeps entry 1 off
    with pytest.raises(ConfigError) as caught:
        config.desired_for(gpu(1, H100_SXM))
    assert "GPU 1 (PCI device id 0x233010DE) is selected by entries 0, 1" in str(caught.value)
    assert caught.value.details()["config"] == "overlap"


_ENTRY = "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.10gb: 7}\n"

INVALID = [
    # (file text, config, entry, field, words the message must contain)
    ("mig-configs:\n  c:\n" + _ENTRY, None, None, "version", "missing required field 'version'"),
    ("version: v2\nmig-configs:\n  c:\n" + _ENTRY, None, None, "version", "unknown version 'v2' (valid: v1)"),
    ("version: v1\nextra: 1\nmig-configs:\n  c:\n" + _ENTRY, None, None, "extra", "unexpected field 'extra'"),
    ("version: v1\n", None, None, "mig-configs", "at least one config"),
    ("version: v1\nmig-configs: {}\n", None, None, "mig-configs", "at least one config"),
    ("version: v1\nmig-configs:\n  c: []\n", "c", None, None, "at least one entry"),
    ("version: v1\nmig-configs:\n  c:\n    - all\n", "c", 0, None, "an entry must be a mapping"),
    ("version: v1\nmig-configs:\n  c:\n    - mig-enabled: false\n", "c", 0, "devices", "missing required field 'devices'"),
    ("version: v1\nmig-configs:\n  c:\n    - devices: all\n", "c", 0, "mig-enabled", "missing required field 'mig-enabled'"),
    (
        "version: v1\nmig-configs:\n  c:\n" + _ENTRY + "    - devices: [1]\n      mig-enabled: false\n      gpus: [1]\n",
        "c",
        1,
        "gpus",
        "unexpected field 'gpus'",
    ),
    ('version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: "true"\n', "c", 0, "mig-enabled", "must be true or false"),
    ("version: v1\nmig-configs:\n  c:\n    - devices: some\n      mig-enabled: false\n", "c", 0, "devices", "must be 'all' or a list of GPU indices"),
    ("version: v1\nmig-configs:\n  c:\n    - devices: [0, -1]\n      mig-enabled: false\n", "c", 0, "devices", "integers >= 0"),
    ("version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n", "c", 0, "mig-devices", "when 'mig-enabled' is true"),
    (
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: false\n      mig-devices: {1g.10gb: 7}\n",
        "c",
        0,
        "mig-devices",
        "while 'mig-enabled' is false",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.10gb: -1}\n",
        "c",
        0,
        "mig-devices.1g.10gb",
        "count must be an integer >= 0, got -1",
    ),
    (
        'version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.10gb: "7"}\n',
        "c",
        0,
        "mig-devices.1g.10gb",
        "count must be an integer >= 0, got '7'",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.10gb: 0}\n",
        "c",
        0,
        "mig-devices",
        "all counts are 0",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: [1g.10gb]\n",
        "c",
        0,
        "mig-devices",
        "must be a mapping of profile name to count",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {4c.3g.40gb: 1}\n",
        "c",
        0,
        "mig-devices.4c.3g.40gb",
        "invalid profile name '4c.3g.40gb'",
    ),
    (
        'version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.10gb: 1, "MIG 1g.10gb": 2}\n',
        "c",
        0,
        "mig-devices.MIG 1g.10gb",
        "listed twice",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - device-filter: H100\n      devices: all\n      mig-enabled: false\n",
        "c",
        0,
        "device-filter",
        "'H100' is not a PCI device id",
    ),
    (
        'version: v1\nmig-configs:\n  c:\n    - device-filter: "0x20B010DE:0x145F10DE"\n      devices: all\n      mig-enabled: false\n',
        "c",
        0,
        "device-filter",
        "subsystem-qualified",
    ),
    (
        "version: v1\nmig-configs:\n  c:\n    - device-filter: [true]\n      devices: all\n      mig-enabled: false\n",
        "c",
        0,
        "device-filter",
        "must be a PCI device id string",
    ),
]


@pytest.mark.parametrize("text, config, entry, field, words", INVALID, ids=[case[4] for case in INVALID])
def test_invalid_files_fail_naming_file_config_entry_and_field(tmp_path, yaml_reader, text, config, entry, field, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, "c")
    message = str(caught.value)
    assert message.startswith("mig-parted config %s: " % path)
    assert words in message
    details = caught.value.details()
    assert (details["file"], details["config"], details["entry"], details["field"]) == (path, config, entry, field)
    if config is not None:
        location = "mig-configs.%s" % config + ("[%d]" % entry if entry is not None else "") + ("." + field if field else "")
        assert location in message


def test_an_error_in_another_config_fails_the_whole_file_as_mig_parted_does(tmp_path, yaml_reader):
    path = write(tmp_path, "version: v1\nmig-configs:\n  good:\n" + _ENTRY + "  bad:\n    - devices: all\n")
    with pytest.raises(ConfigError, match=r"mig-configs.bad\[0\].mig-enabled"):
        load(path, "good")


@pytest.mark.parametrize(
    "text, words",
    [
        ("version: v1\nmig-configs: [\n", ""),
        ("version: v1\n\tmig-configs: {}\n", ""),
    ],
    ids=["unclosed flow", "tab"],
)
def test_broken_yaml_is_reported_with_the_file(tmp_path, yaml_reader, text, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load(path, "c")
    assert str(caught.value).startswith("mig-parted config %s: not valid YAML: " % path)
    assert words in str(caught.value)


def test_builtin_reader_names_the_yaml_feature_it_lacks(tmp_path, monkeypatch):
    monkeypatch.setattr(_migparted, "HAS_PYYAML", False)
    path = write(tmp_path, "version: v1\nmig-configs:\n  c:\n    - &base\n      devices: all\n      mig-enabled: false\n")
    with pytest.raises(ConfigError, match="line 4: .*anchor, alias, tag or block scalar.*install PyYAML"):
        load(path, "c")


def test_a_source_that_is_neither_path_text_nor_mapping():
    with pytest.raises(ConfigError, match="expected the path of a config file, its YAML text, or the parsed document"):
        load(None, "c")


def test_unreadable_file(tmp_path):
    missing = str(tmp_path / "absent.yaml")
    with pytest.raises(ConfigError, match="mig-parted config %s: cannot read the file: No such file" % missing):
        load(missing, "c")


# ------------------------------------------------------------------ render


def test_render_groups_gpus_with_identical_layouts():
    document = render(
        [
            (gpu(2), {"1g.10gb": 7}),
            (gpu(0), {"3g.40gb": 1, "1g.10gb": 2, "2g.20gb": 1}),
            (gpu(1), None),
            (gpu(3), {"MIG 1g.10gb": 7, "2g.20gb": 0}),
            (gpu(4), {"2g.20gb": 1, "1g.10gb": 2, "3g.40gb": 1}),
        ]
    )
    assert document["version"] == "v1"
    assert document["mig-configs"]["current"] == [
        {"devices": [0, 4], "mig-enabled": True, "mig-devices": {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1}},
        {"devices": [1], "mig-enabled": False, "mig-devices": {}},
        {"devices": [2, 3], "mig-enabled": True, "mig-devices": {"1g.10gb": 7}},
    ]


def test_rendered_document_loads_back_to_the_same_layouts(yaml_reader):
    current = [(gpu(0), {"1g.10gb": 7}), (gpu(1), None), (gpu(2), {}), (gpu(3), {"1c.3g.40gb": 2, "4g.40gb": 0, "3g.40gb": 1})]
    config = load(render(current, name="snapshot"), "snapshot")
    expected = [(False, {}) if layout is None else (True, {p: c for p, c in layout.items() if c}) for _gpu, layout in current]
    assert [config.desired_for(device) for device, _layout in current] == expected


def test_render_of_no_gpus_is_refused_by_load_like_an_empty_mig_parted_config():
    with pytest.raises(ConfigError, match="at least one entry"):
        load(render([]), "current")


def _random_document(rng):
    """A mig-parted-shaped document with awkward keys (quotes, '#', ': ', YAML 1.1 words)."""
    names = ["1g.5gb", "MIG 2g.10gb", "1c.3g.20gb", "1g.10gb+me", "it's", "a: b", "x#y", "#z", "yes", "0x10", "1.5"]
    configs = {}
    for number in range(rng.randint(1, 4)):
        entries = []
        for _entry in range(rng.randint(1, 3)):
            entry = {"devices": rng.choice(["all", [rng.randint(0, 7) for _index in range(rng.randint(0, 3))]]), "mig-enabled": rng.random() < 0.5}
            if rng.random() < 0.5:
                entry["device-filter"] = rng.choice(["0x20B010DE", ["0x233010DE", "0x20b210de"], ""])
            if entry["mig-enabled"]:
                entry["mig-devices"] = {rng.choice(names): rng.randint(0, 7) for _index in range(rng.randint(0, 3))}
            entries.append(entry)
        configs["cfg-%d%s" % (number, rng.choice(["", " yes", " 'q'", ' "d"', " 1.5", " #"]))] = entries
    return {"version": "v1", "mig-configs": configs}


@pytest.mark.parametrize(
    "style",
    [
        dict(default_flow_style=False),
        dict(default_flow_style=None),
        dict(default_flow_style=False, indent=4),
        dict(default_flow_style=None, width=20),
        dict(default_flow_style=True, width=30),
    ],
    ids=["block", "mixed", "indent4", "narrow", "flow-wrapped"],
)
def test_builtin_reader_agrees_with_pyyaml_on_what_pyyaml_writes(style):
    yaml = pytest.importorskip("yaml")
    rng = __import__("random").Random(20260)
    for _document in range(50):
        text = yaml.safe_dump(_random_document(rng), **style)
        assert _migparted._read_yaml_subset(text) == yaml.safe_load(text), text


def test_works_on_a_host_without_pyyaml():
    """The module imports and reads configs where ``import yaml`` fails (plain managed hosts)."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['yaml'] = None; sys.path.insert(0, %r)\n"
        "from ansible_collections.gpuops.mig.plugins.module_utils import _migparted\n"
        "assert not _migparted.HAS_PYYAML\n"
        "config = _migparted.load(%r, 'split-inference-training')\n"
        "print(sorted(config.entries[0].mig_devices.items()))\n"
    ) % (str(Path(_migparted.__file__).parents[5]), str(CONFIGS / "custom.yaml"))
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[('1g.10gb', 7)]"

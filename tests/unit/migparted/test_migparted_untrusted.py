"""mig-parted config files read as mig-parted reads them (a duplicate key keeps its last
value) and as untrusted input: only regular files of bounded size, bounded alias expansion,
messages that never spell out a huge value."""

import os
from pathlib import Path

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _migparted
from ansible_collections.gpuops.mig.plugins.module_utils._migparted import ConfigError, load

PUBLISHED = Path(__file__).parent / "published"
DEEPOPS = str(PUBLISHED / "deepops--config.example_nvidia-mig-config.yml")

_ENTRY = "    - devices: all\n      mig-enabled: true\n      mig-devices: {\"1g.10gb\": %d}\n"


@pytest.fixture(params=["pyyaml", "builtin"])
def yaml_reader(request, monkeypatch):
    if request.param == "builtin":
        monkeypatch.setattr(_migparted, "HAS_PYYAML", False)
    return request.param


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_config_defined_twice_keeps_its_last_definition_with_a_warning(tmp_path, yaml_reader):
    path = write(tmp_path, "version: v1\nmig-configs:\n  c:\n" + _ENTRY % 2 + "  c:\n" + _ENTRY % 7)
    config = load(path, "c")
    assert config.entries[0].mig_devices == {"1g.10gb": 7}
    assert config.warnings == (
        "mig-parted config %s: line 7: key 'c' is defined twice; the last definition is used, as mig-parted does" % path,
    )


def test_a_duplicate_key_in_a_flow_mapping_keeps_the_last_value(tmp_path, yaml_reader):
    path = write(tmp_path, "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n"
                           "      mig-devices: {\"1g.10gb\": 1, \"1g.10gb\": 3}\n")
    config = load(path, "c")
    assert config.entries[0].mig_devices == {"1g.10gb": 3}
    assert "line 6: key '1g.10gb' is defined twice" in config.warnings[0]


def test_deepops_example_loads_with_its_duplicate_config_named(yaml_reader):
    config = load(DEEPOPS, "all-7g.80gb")
    assert config.entries[0].mig_devices == {"7g.80gb": 2}
    assert len(config.warnings) == 1
    assert "%s: line 54: key 'all-7g.80gb' is defined twice" % DEEPOPS in config.warnings[0]


@pytest.mark.parametrize("name", sorted(path.name for path in PUBLISHED.iterdir() if path.name.endswith((".yaml", ".yml"))
                                        and "configmap" not in path.name and "container" not in path.name))
def test_every_config_of_the_plain_published_files_loads_with_both_readers(name, yaml_reader):
    path = str(PUBLISHED / name)
    import yaml

    for config_name in yaml.safe_load(Path(path).read_text())["mig-configs"]:
        assert load(path, config_name).name == config_name


def test_an_alias_bomb_is_refused_quickly_and_the_message_stays_short(tmp_path):
    text = "version: v1\n" + "\n".join(
        "b%d: &b%d [%s]" % (level, level, ", ".join(["*b%d" % (level - 1)] * 9) if level else '"lol"')
        for level in range(10)
    ) + "\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: true\n      mig-devices: *b9\n"
    path = write(tmp_path, text)
    assert len(text) < 1000
    with pytest.raises(ConfigError) as caught:
        load(path, "c")
    assert "aliases expand it to more than 100000 YAML nodes" in str(caught.value)
    assert len(str(caught.value)) < 500


def test_a_modest_alias_is_read_like_mig_parted_reads_it(tmp_path):
    text = ("version: v1\nmig-configs:\n  a:\n    - &entry\n      devices: all\n      mig-enabled: true\n"
            "      mig-devices: {\"1g.10gb\": 7}\n  b:\n    - *entry\n")
    assert load(write(tmp_path, text), "b").entries[0].mig_devices == {"1g.10gb": 7}


def test_a_document_containing_itself_is_refused(tmp_path):
    path = write(tmp_path, "version: v1\nmig-configs: &top\n  c: [*top]\n")
    with pytest.raises(ConfigError, match="an alias refers to a node that contains it"):
        load(path, "c")


def test_values_in_messages_are_shortened(tmp_path):
    path = write(tmp_path, "version: v1\nmig-configs:\n  c:\n    - devices: all\n      mig-enabled: %s\n" % ("x" * 5000))
    with pytest.raises(ConfigError) as caught:
        load(path, "c")
    assert "must be true or false, got 'xxx" in str(caught.value)
    assert len(str(caught.value)) < 400


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = str(tmp_path / "config.yaml")
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file \\(a FIFO\\)"):
        load(fifo, "c")


@pytest.mark.parametrize("path, kind", [("/dev/zero", "a character device"), ("/", "a directory")])
def test_devices_and_directories_are_refused(path, kind):
    if not os.path.exists(path):
        pytest.skip("%s missing" % path)
    with pytest.raises(ConfigError, match="mig-parted config %s: not a regular file \\(%s\\)" % (path, kind)):
        load(path, "c")


def test_a_file_larger_than_the_bound_is_refused(tmp_path):
    path = write(tmp_path, "version: v1\n" + "#" * (_migparted.MAX_FILE_BYTES + 10) + "\n")
    with pytest.raises(ConfigError, match="larger than 1048576 bytes"):
        load(path, "c")


def test_a_link_to_a_regular_file_is_read_as_kubernetes_mounts_config_maps(tmp_path):
    target = write(tmp_path, "version: v1\nmig-configs:\n  c:\n" + _ENTRY % 7, name="..data-config.yaml")
    link = tmp_path / "config.yaml"
    link.symlink_to(target)
    assert load(str(link), "c").entries[0].mig_devices == {"1g.10gb": 7}

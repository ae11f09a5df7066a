# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NVIDIA mig-parted v1 configuration files: read, validate, match GPUs, render.

Users bring the files they already feed to ``nvidia-mig-parted apply -f FILE -c NAME``::

    version: v1
    mig-configs:
      all-balanced:
        - device-filter: ["0x20B010DE", "0x20B110DE"]   # optional: PCI device ids
          devices: all                                  # or a list of GPU indices
          mig-enabled: true
          mig-devices: {"1g.5gb": 2, "2g.10gb": 1, "3g.20gb": 1}

The whole file is validated the way mig-parted validates it (every config, not just the
selected one), and more strictly where mig-parted silently ignores a mistake: an
unparsable ``device-filter`` or a GPU selected by two entries is an error here. Every
error is a :class:`ConfigError` naming the file, config, entry index (0-based) and field.

Deliberate differences from mig-parted, documented in docs/mig-parted.md: an unquoted
``device-filter: 0x20B010DE`` (YAML reads it as an integer) is accepted as that PCI id;
subsystem-qualified filters (``0x20B010DE:0x...``) are refused because NVML's packed
device id does not carry the subsystem.

Reading follows mig-parted (its ``nvidia-mig-parted`` reads files with sigs.k8s.io/yaml's
non-strict ``Unmarshal``): a key defined twice is accepted and its last definition wins;
here that also gives a warning naming the file and line. Files are untrusted input: only
regular files up to :data:`MAX_FILE_BYTES` are read (a FIFO or ``/dev/zero`` is refused,
never waited on), and a document whose aliases would expand to more than
:data:`MAX_EXPANDED_NODES` YAML nodes is refused before it is built (mig-parted refuses
"excessive aliasing" too). Messages show values shortened, never an expanded document.

Profile names are only checked for syntax and canonicalised here
(``_profiles.canonical``); whether a GPU offers them is decided later against the
device's own profile list (``_profiles.resolve``).

YAML is read with PyYAML when the host has it, else with a small reader for the block
style mig-parted configs are written in (see :func:`_read_yaml_subset`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import json
import os
import re
import stat
from collections import namedtuple

from collections.abc import Mapping

from ._errors import InputError
from ._files import pyyaml_installed
from ._profiles import canonical

#: PyYAML reads configs where it is installed (imported when one is read); the subset
#: reader below reads them where it is not.
HAS_PYYAML = pyyaml_installed()

VERSION = "v1"

#: Module option the errors are attributed to (mig_instance's ``mig_parted_config``).
OPTION = "mig_parted_config"

#: Largest config file read. NVIDIA's default file is 12 KiB; this bounds what a wrong or
#: hostile path (a device, a huge file) can cost.
MAX_FILE_BYTES = 1024 * 1024

#: Most YAML nodes a document may stand for with its aliases expanded (NVIDIA's default
#: file: about 1,500). Bounds "billion laughs" documents.
MAX_EXPANDED_NODES = 100000

#: Longest rendering of a value in a message.
_SHOWN_CHARS = 120

_TOP_LEVEL_FIELDS = ("version", "mig-configs")
_ENTRY_FIELDS = ("device-filter", "devices", "mig-enabled", "mig-devices")
_REQUIRED_ENTRY_FIELDS = ("devices", "mig-enabled")

#: One element of a config. ``device_filter`` is a tuple of packed PCI device ids
#: (``device << 16 | vendor``, as NVML reports them), empty for "every model";
#: ``devices`` is None for ``all`` or a tuple of GPU indices; ``mig_devices`` maps
#: canonical profile names to positive counts.
Entry = namedtuple("Entry", ["index", "device_filter", "devices", "mig_enabled", "mig_devices"])


class ConfigError(InputError):
    """A mig-parted config is unreadable or invalid; says where (file, config, entry, field)."""

    def __init__(self, source, problem, config=None, entry=None, field=None, value=None, valid=None):
        if isinstance(value, (Mapping, list)) and len(repr(value)) > _SHOWN_CHARS:
            value = shown(value)
        super(ConfigError, self).__init__(OPTION, value, problem, valid)
        self.source = source
        self.config = config
        self.entry = entry
        self.field = field
        where = _location(config, entry, field)
        message = "mig-parted config %s: %s%s" % (source, where + ": " if where else "", problem)
        if self.valid:
            message += " (valid: %s)" % ", ".join(str(choice) for choice in self.valid)
        self.args = (message,)

    def details(self):
        details = super(ConfigError, self).details()
        details.update(file=self.source, config=self.config, entry=self.entry, field=self.field)
        return details


def shown(value):
    """``repr(value)`` cut to a readable length (values can be large: they come from files)."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _location(config, entry, field):
    """``mig-configs.NAME[ENTRY].FIELD`` for the parts that are known."""
    if config is None:
        return field or ""
    where = "mig-configs.%s" % config
    if entry is not None:
        where += "[%d]" % entry
    if field:
        where += "." + field
    return where


class MigPartedConfig(object):
    """One selected config of a mig-parted file, ready to be matched against GPUs.

    ``warnings``: what reading the file noticed without failing (duplicate keys).
    """

    def __init__(self, source, name, entries, warnings=()):
        self.source = source
        self.name = name
        self.entries = tuple(entries)
        self.warnings = tuple(warnings)

    def where(self, entry=None, field=None):
        """``mig-parted config FILE: mig-configs.NAME[ENTRY].FIELD`` for messages."""
        return "mig-parted config %s: %s" % (self.source, _location(self.name, entry, field))

    def selection_warnings(self, host_gpus):
        """What the config names that the host lacks (``host_gpus``: every GpuDevice): GPU
        indices it does not have, or no GPU selected at all. mig-parted ignores both
        silently; a config written for another host shape then does less than its author
        expects. (One entry selecting nothing is normal: configs such as all-balanced carry
        one entry per board model.)"""
        indices = set(gpu.index for gpu in host_gpus)
        warnings = []
        for entry in self.entries:
            missing = sorted(set(entry.devices or ()) - indices)
            if missing:
                warnings.append(
                    "%s names GPU index(es) %s, which this host does not have (it has %s); ignored, as mig-parted does"
                    % (self.where(entry.index, "devices"), ", ".join(str(index) for index in missing), _index_range(indices))
                )
        if not any(_selects(entry, gpu) for entry in self.entries for gpu in host_gpus):
            warnings.append(
                "%s selects no GPU of this host (%s; the host has %s); nothing is changed, as with mig-parted"
                % (self.where(), "; ".join(_selection_text(entry) for entry in self.entries), _models(host_gpus))
            )
        return warnings

    def entry_for(self, gpu):
        """The Entry selecting ``gpu`` (a ``_model.GpuDevice``), or None.

        Raises ConfigError when two entries select the same GPU, since mig-parted's
        outcome then depends on entry order.
        """
        matching = [entry for entry in self.entries if _selects(entry, gpu)]
        if len(matching) > 1:
            raise ConfigError(
                self.source,
                "GPU %s (PCI device id %s) is selected by entries %s; an entry's devices and device-filter "
                "must not overlap another's"
                % (gpu.index, format_device_id(gpu.pci_device_id), ", ".join(str(entry.index) for entry in matching)),
                config=self.name,
                entry=matching[1].index,
                field="devices",
                value=gpu.index,
            )
        return matching[0] if matching else None

    def desired_for(self, gpu):
        """What this config wants for ``gpu`` (a ``_model.GpuDevice``).

        Returns None when no entry selects the GPU (it is left as it is), else
        ``(mig_enabled, {canonical profile name: count})`` (counts > 0; empty when MIG
        is disabled or wanted without instances). Raises ConfigError when two entries
        select the same GPU, since mig-parted's outcome then depends on entry order.
        """
        entry = self.entry_for(gpu)
        if entry is None:
            return None
        return entry.mig_enabled, dict(entry.mig_devices)


def _selects(entry, gpu):
    if entry.device_filter and gpu.pci_device_id not in entry.device_filter:
        return False
    return entry.devices is None or gpu.index in entry.devices


def _index_range(indices):
    return "no GPU" if not indices else "GPU %d" % min(indices) if len(indices) == 1 else "GPUs %d-%d" % (min(indices), max(indices))


def _models(gpus):
    counts = {}
    for gpu in gpus:
        counts[gpu.pci_device_id] = counts.get(gpu.pci_device_id, 0) + 1
    return ", ".join("%d x %s" % (count, format_device_id(packed)) for packed, count in sorted(counts.items())) or "no GPU"


def _selection_text(entry):
    devices = "devices: all" if entry.devices is None else "devices: %s" % list(entry.devices)
    if not entry.device_filter:
        return devices
    return "device-filter: %s, %s" % (", ".join(format_device_id(packed) for packed in entry.device_filter), devices)


def format_device_id(packed):
    """A packed PCI id as mig-parted writes it: ``0x20B010DE``."""
    return "0x%08X" % packed


def load(source, name=None):
    """Read and validate a mig-parted file; return the config called ``name``.

    ``source`` is a path, the file's text (any string containing a newline, or starting
    with ``{``), or the already parsed document (a mapping, e.g. inline YAML in a
    playbook). ``name`` may be omitted when the file holds exactly one config, as with
    ``nvidia-mig-parted apply`` without ``-c``.
    """
    label, document, warnings = _document(source)
    configs = _validated_configs(label, document)
    if name is None:
        if len(configs) != 1:
            raise ConfigError(label, "the file holds %d configs, name the one to apply" % len(configs), valid=sorted(configs))
        name = next(iter(configs))
    if name not in configs:
        raise ConfigError(label, "config %r not found" % name, value=name, valid=sorted(configs))
    return MigPartedConfig(label, name, configs[name], warnings)


def _document(source):
    """(label for messages, parsed document, warnings) of a path, a text or a parsed mapping."""
    if isinstance(source, Mapping):
        return "<inline>", source, []
    if not isinstance(source, str) or not source.strip():
        raise ConfigError(shown(source), "expected the path of a config file, its YAML text, or the parsed document")
    if "\n" in source or source.lstrip().startswith("{"):
        label, text = "<text>", source
    else:
        label, text = source, _read_file(source)
    duplicates = []
    try:
        document = parse_yaml(text, duplicates)
    except ValueError as error:
        raise ConfigError(label, "not valid YAML: %s" % error)
    warnings = [
        "mig-parted config %s: line %d: key %s is defined twice; the last definition is used, as mig-parted does"
        % (label, line, shown(key))
        for key, line in duplicates
    ]
    return label, document, warnings


def _read_file(path):
    """The text of a regular file of at most MAX_FILE_BYTES, or ConfigError.

    Opened non-blocking so that a FIFO is refused instead of waited on; symbolic links are
    followed (Kubernetes mounts ConfigMap keys as links), what they lead to is checked.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise ConfigError(path, "cannot read the file: %s" % (error.strerror or error))
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise ConfigError(path, "not a regular file (%s); a mig-parted config must be a file" % _file_kind(mode))
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise ConfigError(path, "cannot read the file: %s" % (error.strerror or error))
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(path, "the file is larger than %d bytes, too large for a mig-parted config" % MAX_FILE_BYTES)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(path, "not UTF-8 text: %s" % error)


def _file_kind(mode):
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


def _validated_configs(label, document):
    """{config name: tuple of Entry} for every config of the document, or ConfigError."""
    if not isinstance(document, Mapping):
        raise ConfigError(label, "the document must be a mapping with 'version' and 'mig-configs', got %s" % _type_name(document))
    if "version" not in document:
        raise ConfigError(label, "missing required field 'version'", field="version", valid=[VERSION])
    if document["version"] != VERSION:
        raise ConfigError(label, "unknown version %s" % shown(document["version"]), field="version", value=document["version"], valid=[VERSION])
    for field in document:
        if field not in _TOP_LEVEL_FIELDS:
            raise ConfigError(label, "unexpected field %s" % shown(field), field=str(field), valid=_TOP_LEVEL_FIELDS)
    configs = document.get("mig-configs")
    if not isinstance(configs, Mapping) or not configs:
        raise ConfigError(label, "'mig-configs' must be a mapping with at least one config, got %s" % _type_name(configs), field="mig-configs")
    validated = {}
    for config_name, entries in configs.items():
        if not isinstance(config_name, str):
            raise ConfigError(label, "config names must be strings, got %s" % shown(config_name), field="mig-configs")
        if not isinstance(entries, list) or not entries:
            raise ConfigError(label, "a config must be a list with at least one entry, got %s" % _type_name(entries), config=config_name)
        validated[config_name] = tuple(_validated_entry(label, config_name, index, entry) for index, entry in enumerate(entries))
    return validated


def _validated_entry(label, config, index, raw):
    def fail(problem, field=None, value=None, valid=None):
        raise ConfigError(label, problem, config=config, entry=index, field=field, value=value, valid=valid)

    if not isinstance(raw, Mapping):
        fail("an entry must be a mapping, got %s" % _type_name(raw))
    for field in raw:
        if field not in _ENTRY_FIELDS:
            fail("unexpected field %s" % shown(field), field=str(field), value=field, valid=_ENTRY_FIELDS)
    for field in _REQUIRED_ENTRY_FIELDS:
        if field not in raw:
            fail("missing required field %r" % field, field=field)

    mig_enabled = raw["mig-enabled"]
    if not isinstance(mig_enabled, bool):
        fail("must be true or false, got %s" % shown(mig_enabled), field="mig-enabled", value=mig_enabled)
    mig_devices = raw.get("mig-devices")
    if mig_enabled and mig_devices is None:
        fail("missing required field 'mig-devices' when 'mig-enabled' is true (use {} for no instances)", field="mig-devices")
    if not mig_enabled and mig_devices:
        fail("MIG devices listed while 'mig-enabled' is false", field="mig-devices", value=mig_devices)

    return Entry(
        index=index,
        device_filter=_device_filter(raw.get("device-filter"), fail),
        devices=_devices(raw["devices"], fail),
        mig_enabled=mig_enabled,
        mig_devices=_mig_devices(mig_devices or {}, fail),
    )


def _device_filter(value, fail):
    """Tuple of packed PCI device ids; empty (every model) for a missing or empty filter."""
    if value is None or value == "":
        return ()
    items = value if isinstance(value, list) else [value]
    packed = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            fail("must be a PCI device id string such as \"0x20B010DE\" or a list of them, got %s" % shown(item), field="device-filter", value=item)
        packed.append(item if isinstance(item, int) else _parse_device_id(item, fail))
        if not 0 <= packed[-1] <= 0xFFFFFFFF:
            fail("PCI device id %s is out of range (32 bits: device << 16 | vendor)" % shown(item), field="device-filter", value=item)
    return tuple(packed)


def _parse_device_id(text, fail):
    if ":" in text:
        fail(
            "subsystem-qualified device ids (%s) are not supported: NVML's device id has no subsystem part" % shown(text),
            field="device-filter",
            value=text,
        )
    try:
        return int(text.strip(), 0)
    except ValueError:
        fail("%s is not a PCI device id such as \"0x20B010DE\" (device id then vendor id, hex)" % shown(text), field="device-filter", value=text)


def _devices(value, fail):
    """None for ``all``, else a tuple of GPU indices."""
    if value == "all":
        return None
    if isinstance(value, list) and all(isinstance(index, int) and not isinstance(index, bool) and index >= 0 for index in value):
        return tuple(value)
    fail("must be 'all' or a list of GPU indices (integers >= 0), got %s" % shown(value), field="devices", value=value)


def _mig_devices(value, fail):
    """{canonical profile name: count} without zero counts; the names' syntax is checked."""
    if not isinstance(value, Mapping):
        fail("must be a mapping of profile name to count, got %s" % _type_name(value), field="mig-devices", value=value)
    counts = {}
    for name, count in value.items():
        field = "mig-devices.%s" % (name,)
        if not isinstance(name, str):
            fail("profile names must be strings such as \"1g.10gb\", got %s" % shown(name), field=field, value=name)
        try:
            profile = canonical(name)
        except InputError as error:
            fail("invalid profile name %s: %s" % (shown(name), error.problem), field=field, value=name, valid=error.valid)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            fail("count must be an integer >= 0, got %s" % shown(count), field=field, value=count)
        if profile in counts:
            fail("profile %s is listed twice (as another spelling of %s)" % (shown(name), profile), field=field, value=name)
        counts[profile] = count
    if counts and not any(counts.values()):
        fail("all counts are 0 (use {} for MIG enabled without instances)", field="mig-devices", value=value)
    return dict((profile, count) for profile, count in counts.items() if count)


def _type_name(value):
    return "nothing" if value is None else type(value).__name__


def render(current, name="current"):
    """A mig-parted v1 document describing ``current`` layouts.

    ``current`` is a list of ``(GpuDevice, layout)`` where layout is a {profile name:
    count} dict for a GPU in MIG mode, or None for MIG disabled. GPUs with identical
    layouts share one entry (``devices: [indices]``, ordered by their first GPU), so the
    document reads like a hand-written config and can be applied back with
    ``mig_instance``'s ``mig_parted_config``.
    """
    groups = []
    by_layout = {}
    for gpu, layout in sorted(current, key=lambda item: item[0].index):
        enabled = layout is not None
        counts = {}
        for profile, count in (layout or {}).items():
            if count:
                profile_name = canonical(profile)
                counts[profile_name] = counts.get(profile_name, 0) + count
        key = (enabled, tuple(sorted(counts.items())))
        if key not in by_layout:
            by_layout[key] = {"devices": [], "mig-enabled": enabled, "mig-devices": dict(key[1])}
            groups.append(by_layout[key])
        by_layout[key]["devices"].append(gpu.index)
    return {"version": VERSION, "mig-configs": {name: groups}}


# --------------------------------------------------------------------------- YAML


def parse_yaml(text, duplicates=None):
    """Parse one YAML document; raise ValueError with the line on a syntax problem.

    A key defined twice keeps its last value, as mig-parted's YAML reading does; each is
    appended to ``duplicates`` (a list, when given) as ``(key, line)``.
    """
    found = [] if duplicates is None else duplicates
    if not HAS_PYYAML:
        return _read_yaml_subset(text, found)
    import yaml

    loader = _mig_parted_loader()(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as error:
        raise ValueError(str(error).replace("\n", " "))
    finally:
        found.extend(loader.duplicate_keys)
        loader.dispose()


def _check_alias_expansion(root):
    """Refuse a node graph that stands for more than MAX_EXPANDED_NODES nodes once its
    aliases are expanded, or that contains itself; counted without expanding anything."""
    sizes = {}
    on_path = set()
    stack = [(root, False)]
    while stack:
        node, children_counted = stack.pop()
        if id(node) in sizes:
            continue
        children = _child_nodes(node)
        if children_counted:
            on_path.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_EXPANDED_NODES:
                raise ValueError(
                    "line %d: the document's aliases expand it to more than %d YAML nodes (mig-parted refuses "
                    "excessive aliasing too)" % (node.start_mark.line + 1, MAX_EXPANDED_NODES)
                )
            continue
        on_path.add(id(node))
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise ValueError("line %d: an alias refers to a node that contains it" % (child.start_mark.line + 1))
            if id(child) not in sizes:
                stack.append((child, False))


def _child_nodes(node):
    if isinstance(node.value, list):
        return [child for item in node.value for child in (item if isinstance(item, tuple) else (item,))]
    return []


@functools.lru_cache(maxsize=None)
def _mig_parted_loader():
    """PyYAML's safe loader reading as mig-parted does: a duplicate key keeps its last value
    (recorded in ``duplicate_keys``); documents are bounded in alias expansion."""
    import yaml

    class MigPartedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        def __init__(self, stream):
            super(MigPartedLoader, self).__init__(stream)
            self.duplicate_keys = []

        def construct_document(self, node):
            _check_alias_expansion(node)
            return super(MigPartedLoader, self).construct_document(node)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _value_node in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    self.duplicate_keys.append((key, key_node.start_mark.line + 1))
                seen.add(key)
            return super(MigPartedLoader, self).construct_mapping(node, deep=deep)

    return MigPartedLoader


# The block-style subset mig-parted configs use: block mappings and sequences, flow
# sequences/mappings (also across lines), quoted and plain scalars, comments. Anchors,
# aliases, tags, block scalars and multiple documents are refused with a clear message.
# Plain scalars resolve as PyYAML (YAML 1.1) resolves them.

_Line = namedtuple("_Line", ["number", "indent", "text"])

_NULLS = ("", "~", "null", "Null", "NULL")
_TRUE = ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_FALSE = ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_INT_PATTERNS = (
    (re.compile(r"^[-+]?0b[01_]+$"), 2),
    (re.compile(r"^[-+]?0x[0-9a-fA-F_]+$"), 16),
    (re.compile(r"^[-+]?0[0-7_]+$"), 8),
    (re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), 10),
)
_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+][0-9]+)?$")
_UNSUPPORTED_START = "&*!|>%@`?"


def _read_yaml_subset(text, duplicates=None):
    lines = _logical_lines(text)
    if not lines:
        return None
    reader = _SubsetReader(lines, [] if duplicates is None else duplicates)
    value, position = reader.block(0, lines[0].indent)
    if position < len(lines):
        raise ValueError("line %d: unexpected indentation or content" % lines[position].number)
    return value


def _logical_lines(text):
    """Non-blank lines without comments, with their indentation; one document only."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        body = _strip_comment(raw).rstrip()
        stripped = body.lstrip(" ")
        if not stripped:
            continue
        if stripped.startswith("\t") or body.startswith("\t"):
            raise ValueError("line %d: tabs are not allowed for indentation" % number)
        if stripped in ("---", "...") and body == stripped:
            if stripped == "---" and lines:
                raise ValueError("line %d: only one YAML document is supported" % number)
            continue
        lines.append(_Line(number, len(body) - len(stripped), stripped))
    return lines


def _strip_comment(raw):
    quote = None
    escaped = False
    for position, char in enumerate(raw):
        if quote == '"':
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quote = None
        elif quote == "'":
            if char == "'":
                quote = None
        elif _opens_quote(raw, position):
            quote = char
        elif char == "#" and (position == 0 or raw[position - 1] in " \t"):
            return raw[:position]
    return raw


class _SubsetReader(object):
    def __init__(self, lines, duplicates):
        self.lines = list(lines)
        self.duplicates = duplicates

    def block(self, position, indent):
        text = self.lines[position].text
        if text[0] in "[{":
            return self.inline(position, text)
        if _is_sequence_item(text):
            return self.sequence(position, indent)
        return self.mapping(position, indent)

    def sequence(self, position, indent):
        items = []
        while position < len(self.lines) and self.lines[position].indent == indent and _is_sequence_item(self.lines[position].text):
            line = self.lines[position]
            rest = line.text[1:].lstrip(" ")
            if not rest:
                value, position = self.nested(position, indent, allow_sequence=False)
            elif _key_split(rest, line.number, required=False) is not None:
                # "- key: value": a mapping whose keys are aligned with "key".
                self.lines[position] = _Line(line.number, indent + len(line.text) - len(rest), rest)
                value, position = self.mapping(position, self.lines[position].indent)
            else:
                value, position = self.inline(position, rest)
            items.append(value)
        return items, position

    def mapping(self, position, indent):
        result = {}
        while position < len(self.lines) and self.lines[position].indent == indent:
            line = self.lines[position]
            if _is_sequence_item(line.text):
                raise ValueError("line %d: a list item where a 'key: value' was expected" % line.number)
            key, rest = _key_split(line.text, line.number, required=True)
            if key in result:
                self.duplicates.append((key, line.number))
            if rest:
                value, position = self.inline(position, rest)
            else:
                value, position = self.nested(position, indent, allow_sequence=True)
            result[key] = value
        return result, position

    def nested(self, position, indent, allow_sequence):
        """The block under the line at ``position`` (more indented; for a mapping key also
        a list at the same indentation), or None when there is none."""
        following = position + 1
        if following < len(self.lines):
            line = self.lines[following]
            if line.indent > indent or (allow_sequence and line.indent == indent and _is_sequence_item(line.text)):
                return self.block(following, line.indent)
        return None, following

    def inline(self, position, text):
        """A value written after ``key:`` or ``-``; flow collections may span lines."""
        number = self.lines[position].number
        position += 1
        if text[0] in "[{":
            while _unclosed(text) and position < len(self.lines):
                text += " " + self.lines[position].text
                position += 1
            value, end = _flow_value(text, 0, number, self.duplicates)
            if text[end:].strip():
                raise ValueError("line %d: unexpected text after a flow collection: %r" % (number, text[end:].strip()))
            return value, position
        return _scalar_text(text, number), position


def _is_sequence_item(text):
    return text == "-" or text.startswith("- ")


def _key_split(text, number, required):
    """(key, rest) of a ``key: rest`` line; None (or ValueError if required) otherwise."""
    if text[0] in "\"'":
        key, end = _quoted(text, 0, number)
    elif text[0] in "[{" + _UNSUPPORTED_START:
        if required:
            raise ValueError("line %d: unsupported mapping key %r (install PyYAML for full YAML)" % (number, text))
        return None
    else:
        match = re.search(r":(?: |$)", text)
        if match is None:
            if required:
                raise ValueError("line %d: expected 'key: value', got %r" % (number, text))
            return None
        return _plain(text[: match.start()].rstrip(), number), text[match.end():].strip()
    rest = text[end:].lstrip(" ")
    if not rest.startswith(":") or rest[1:2] not in ("", " "):
        if required:
            raise ValueError("line %d: expected ':' after the key %r" % (number, key))
        return None
    return key, rest[1:].strip()


def _scalar_text(text, number):
    if text[0] in "\"'":
        value, end = _quoted(text, 0, number)
        if text[end:].strip():
            raise ValueError("line %d: unexpected text after a quoted string: %r" % (number, text[end:].strip()))
        return value
    return _plain(text, number)


def _plain(text, number):
    if text and text[0] in _UNSUPPORTED_START:
        raise ValueError(
            "line %d: %r uses a YAML feature (anchor, alias, tag or block scalar) this reader does not support; install PyYAML" % (number, text)
        )
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    for pattern, base in _INT_PATTERNS:
        if pattern.match(text):
            return int(text.replace("_", ""), base)
    if _FLOAT.match(text) and any(char.isdigit() for char in text):
        return float(text.replace("_", ""))
    return text


def _quoted(text, start, number):
    """(string, end position) of the quoted scalar starting at ``text[start]``."""
    quote = text[start]
    position = start + 1
    while position < len(text):
        char = text[position]
        if quote == '"' and char == "\\":
            position += 2
            continue
        if char == quote:
            if quote == "'" and text[position + 1:position + 2] == "'":
                position += 2
                continue
            body = text[start + 1:position]
            if quote == "'":
                return body.replace("''", "'"), position + 1
            try:
                return json.loads('"%s"' % body), position + 1
            except ValueError:
                raise ValueError("line %d: unsupported escape in %s" % (number, text[start:position + 1]))
        position += 1
    raise ValueError("line %d: unterminated quoted string %s" % (number, text[start:]))


def _opens_quote(text, position):
    """Whether a quote character starts a quoted scalar (not an apostrophe in a word)."""
    return text[position] in "\"'" and (position == 0 or text[position - 1] in " \t[{,:-")


def _unclosed(text):
    depth = 0
    quote = None
    for position, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif _opens_quote(text, position):
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth > 0


def _flow_value(text, position, number, duplicates):
    """(value, end) of the flow node starting at ``text[position]`` (spaces skipped)."""
    position = _skip_spaces(text, position)
    if position >= len(text):
        raise ValueError("line %d: unterminated flow collection" % number)
    char = text[position]
    if char in "[{":
        closing = "]" if char == "[" else "}"
        items = [] if char == "[" else {}
        position = _skip_spaces(text, position + 1)
        while True:
            if position >= len(text):
                raise ValueError("line %d: unterminated flow collection, missing %r" % (number, closing))
            if text[position] == closing:
                return items, position + 1
            if char == "[":
                value, position = _flow_value(text, position, number, duplicates)
                items.append(value)
            else:
                key, position = _flow_scalar(text, position, number, ":,}")
                position = _skip_spaces(text, position)
                value = None
                if position < len(text) and text[position] == ":":
                    value, position = _flow_value(text, position + 1, number, duplicates)
                if key in items:
                    duplicates.append((key, number))
                items[key] = value
            position = _skip_spaces(text, position)
            if position < len(text) and text[position] == ",":
                position = _skip_spaces(text, position + 1)
            elif position < len(text) and text[position] != closing:
                raise ValueError("line %d: expected ',' or %r in a flow collection, got %r" % (number, closing, text[position:]))
    return _flow_scalar(text, position, number, ",]}")


def _flow_scalar(text, position, number, stops):
    position = _skip_spaces(text, position)
    if position < len(text) and text[position] in "\"'":
        return _quoted(text, position, number)
    end = position
    while end < len(text) and text[end] not in stops:
        end += 1
    return _plain(text[position:end].strip(), number), end


def _skip_spaces(text, position):
    while position < len(text) and text[position] == " ":
        position += 1
    return position

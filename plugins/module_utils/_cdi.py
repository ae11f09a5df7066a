# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container Device Interface (CDI) specs for full GPUs and MIG devices.

The spec model over the shared namedtuples (``GpuDevice``, ``MigDevice``), a parsed
``mig-minors`` mapping, a ``dev_root`` and the driver files ``_cdi_driver`` discovers
(libraries, binaries, firmware, IPC sockets), plus reading and writing the spec file
itself. The output follows what ``nvidia-ctk cdi generate`` emits (names, parent node,
GPU-instance and compute-instance capability nodes, driver mounts, ``nvidia-cdi-hook``
hooks) and the rules of the CDI reference implementation (``pkg/parser``, the default
validator, version gating); libraries are also mounted at their SONAME so that the spec
works without the NVIDIA Container Toolkit (docs/cdi.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import functools
import hashlib
import json
import os
import re
import stat
from collections import namedtuple

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi_driver
from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError, MigError
from ansible_collections.gpuops.mig.plugins.module_utils._files import pyyaml_installed, write_atomically

DEFAULT_KIND = "nvidia.com/gpu"
#: Same file as nvidia-cdi-refresh.service writes: one spec per kind and directory avoids
#: "conflicting device" errors, and /var/run is cleared on boot like MIG instances are.
DEFAULT_PATH = "/var/run/cdi/nvidia.yaml"
DEFAULT_MODE = "0644"
DEFAULT_MIG_MINORS_PATH = "/proc/driver/nvidia-caps/mig-minors"

#: PyYAML is a declared dependency, but JSON specs work without it. It is imported where a
#: YAML spec is written or parsed, not by every run (see _FINGERPRINT).
HAS_YAML = pyyaml_installed()

NAME_STRATEGIES = ("index", "uuid", "type-index")
DEFAULT_NAME_STRATEGIES = ("index", "uuid")
ALL_DEVICE = "all"

#: Spec-level device nodes, in nvidia-ctk's order; only those present under dev_root are used.
CONTROL_DEVICE_NODES = ("/dev/nvidia-modeset", "/dev/nvidia-uvm-tools", "/dev/nvidia-uvm", "/dev/nvidiactl")
#: Keeps a legacy nvidia-container-runtime hook from injecting every GPU on top of CDI.
COMMON_ENV = ("NVIDIA_VISIBLE_DEVICES=void",)
CAPS_DIR = "/dev/nvidia-caps"
DISCOVERY_MODES = ("nvml", "management")
#: Kind of the management spec, as NVIDIA documents ``nvidia-ctk cdi generate --mode=management``.
MANAGEMENT_KIND = "management.nvidia.com/gpu"
HOOK_CHOICES = ("auto", "none")
#: Options of every driver file mount (those of nvidia-ctk).
MOUNT_OPTIONS = ("ro", "nosuid", "nodev", "rbind", "rprivate")
#: Driver files are never larger; a bigger "spec" is not one (and is not read whole).
MAX_SPEC_BYTES = 16 << 20
#: (device node, /proc/devices name of its major, minor) of the driver's fixed nodes; GPU
#: nodes /dev/nvidia<N> are nvidia-frontend N and caps nvidia-caps <N>.
_FIXED_NODE_NUMBERS = {
    "/dev/nvidiactl": ("nvidia-frontend", 255),
    "/dev/nvidia-modeset": ("nvidia-frontend", 254),
    "/dev/nvidia-uvm": ("nvidia-uvm", 0),
    "/dev/nvidia-uvm-tools": ("nvidia-uvm", 1),
}
_NUMBERED_NODE = re.compile(r"^/dev/(?:nvidia(\d+)|nvidia-caps/nvidia-cap(\d+))$")

FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}

#: Released CDI spec versions (specs-go/version.go); a spec may not declare less than 0.3.0.
SPEC_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0")
EARLIEST_VERSION = "0.3.0"
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
DEVICE_NODE_TYPES = ("", "b", "c", "u", "p")

#: Fields the Go loader accepts (it unmarshals strictly: any other key fails loading).
_SPEC_FIELDS = ("cdiVersion", "kind", "annotations", "devices", "containerEdits")
_DEVICE_FIELDS = ("name", "annotations", "containerEdits")
_EDIT_FIELDS = ("env", "deviceNodes", "netDevices", "hooks", "mounts", "intelRdt", "additionalGids")
_DEVICE_NODE_FIELDS = ("path", "hostPath", "type", "major", "minor", "fileMode", "permissions", "uid", "gid")
_MOUNT_FIELDS = ("hostPath", "containerPath", "options", "type")
_HOOK_FIELDS = ("hookName", "path", "args", "env", "timeout")
_NET_DEVICE_FIELDS = ("hostInterfaceName", "name")
_INTEL_RDT_FIELDS = ("closID", "l3CacheSchema", "memBwSchema", "schemata", "enableMonitoring")

_MIG_MINOR_LINE = re.compile(r"^(config|monitor|gpu\d+/gi\d+/access|gpu\d+/gi\d+/ci\d+/access) (\d+)$")


class CdiError(MigError):
    """The spec cannot be generated, validated, read or written."""

    def __init__(self, message, path=None, problems=None):
        self.path = path
        self.problems = list(problems or [])
        super(CdiError, self).__init__(message)

    def details(self):
        return {"path": self.path, "problems": self.problems}


# ----------------------------------------------------------------------------- names


def _is_letter(char):
    return ("a" <= char <= "z") or ("A" <= char <= "Z")


def _is_alnum(char):
    return _is_letter(char) or "0" <= char <= "9"


def _name_problem(name, first_ok, first_rule, middle_extra):
    """The parser.go rule shared by vendor, class and device names (None when valid)."""
    if not name:
        return "is empty"
    if not first_ok(name[0]):
        return "must start with %s" % first_rule
    for char in name[1:-1]:
        if not (_is_alnum(char) or char in middle_extra):
            return "contains invalid character %r (allowed: letters, digits, %s)" % (
                char,
                ", ".join(repr(c) for c in middle_extra),
            )
    if not _is_alnum(name[-1]):
        return "must end with a letter or digit"
    return None


def vendor_or_class_problem(name):
    """Why ``name`` is not a valid CDI vendor or class name, or None."""
    return _name_problem(name, _is_letter, "a letter", "_-.")


def device_name_problem(name):
    """Why ``name`` is not a valid CDI device name, or None (':' allowed for MIG names)."""
    return _name_problem(name, _is_alnum, "a letter or digit", "_-.:")


def kind_problem(kind):
    """Why ``kind`` is not a valid ``vendor/class`` CDI kind, or None."""
    if not isinstance(kind, str):
        return "must be a string of the form vendor/class"
    vendor, sep, device_class = kind.partition("/")
    if not sep or not vendor or not device_class:
        return "must have the form vendor/class, e.g. %s" % DEFAULT_KIND
    for part, value in (("vendor", vendor), ("class", device_class)):
        problem = vendor_or_class_problem(value)
        if problem:
            return "%s %r %s" % (part, value, problem)
    return None


def check_kind(kind):
    problem = kind_problem(kind)
    if problem:
        raise InputError("kind", kind, problem)
    return kind


def check_name_strategies(strategies):
    """Validated naming strategies, duplicates dropped, order kept."""
    if not strategies:
        raise InputError("device_name_strategies", strategies, "needs at least one strategy", NAME_STRATEGIES)
    chosen = []
    for strategy in strategies:
        if strategy not in NAME_STRATEGIES:
            raise InputError("device_name_strategies", strategy, "unknown naming strategy", NAME_STRATEGIES)
        if strategy not in chosen:
            chosen.append(strategy)
    return tuple(chosen)


def gpu_device_names(gpu, strategies):
    """CDI names of a full GPU, one per strategy (nvidia-ctk's namer)."""
    names = {"index": str(gpu.index), "uuid": gpu.uuid, "type-index": "gpu%d" % gpu.index}
    return [names[strategy] for strategy in strategies]


def mig_device_names(mig, strategies):
    """CDI names of a MIG device: ``<gpu index>:<mig index>``, its UUID, ``mig<g>:<m>``."""
    pair = "%d:%d" % (mig.gpu_index, mig.mig_index)
    names = {"index": pair, "uuid": mig.uuid, "type-index": "mig" + pair}
    return [names[strategy] for strategy in strategies]


# ----------------------------------------------------------------------------- host inputs


def parse_mig_minors(text):
    """Map capability names (``gpu0/gi1/access``, ``gpu0/gi1/ci0/access``, ``config``,
    ``monitor``) to device-file minors; lines in any other shape are skipped, as nvidia-ctk
    does."""
    minors = {}
    for line in text.splitlines():
        match = _MIG_MINOR_LINE.match(line)
        if match:
            minors[match.group(1)] = int(match.group(2))
    return minors


def read_mig_minors(path):
    """Parsed mig-minors file, or None when the file does not exist (no MIG support)."""
    try:
        with open(path, "r") as handle:
            return parse_mig_minors(handle.read())
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise CdiError("cannot read mig-minors file %s: %s" % (path, exc), path=path)


def host_path(dev_root, path):
    """Where container ``path`` lives on the host when device nodes are under ``dev_root``."""
    return _cdi_driver.under_root(dev_root, path)


def present_control_nodes(dev_root):
    """The control device nodes (nvidiactl, nvidia-uvm, ...) that exist under ``dev_root``."""
    return tuple(node for node in CONTROL_DEVICE_NODES if os.path.exists(host_path(dev_root, node)))


def present_capability_nodes(dev_root):
    """Every ``/dev/nvidia-caps/nvidia-cap<N>`` under ``dev_root``, by minor."""
    try:
        entries = os.listdir(host_path(dev_root, CAPS_DIR))
    except OSError:
        return []
    minors = sorted(int(entry[len("nvidia-cap") :]) for entry in entries if re.match(r"^nvidia-cap\d+$", entry))
    return ["%s/nvidia-cap%d" % (CAPS_DIR, minor) for minor in minors]


def read_device_majors(path):
    """{driver name: character major} from a /proc/devices file ({} when unreadable)."""
    handle = _cdi_driver.open_regular(path)
    if handle is None:
        return {}
    with handle:
        text = handle.read(1 << 16).decode("utf-8", "replace")
    majors = {}
    for line in text.split("Block devices:")[0].splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit():
            majors.setdefault(fields[1], int(fields[0]))
    majors.setdefault("nvidia-frontend", majors.get("nvidia"))
    return majors


def node_numbers_for(dev_root):
    """A function giving the explicit ``type``/``major``/``minor`` fields of a device node.

    Nodes that exist under ``dev_root`` as character devices get none: the runtime stats
    them (nvidia-ctk does the same). Any other node (a capability node nvidia-modprobe has
    not created yet, or a simulated host's regular file) gets the numbers the driver uses,
    majors from ``<dev_root>/proc/devices``, so the runtime creates it in the container."""
    majors = {}

    def numbers(path):
        mode = _cdi_driver.mode_of(host_path(dev_root, path))
        if mode is not None and stat.S_ISCHR(mode):
            return {}
        if not majors:
            majors.update(read_device_majors(host_path(dev_root, "/proc/devices")))
        numbered = _NUMBERED_NODE.match(path)
        if numbered:
            driver, minor = (
                ("nvidia-frontend", int(numbered.group(1)))
                if numbered.group(1)
                else ("nvidia-caps", int(numbered.group(2)))
            )
        else:
            driver, minor = _FIXED_NODE_NUMBERS[path]
        if majors.get(driver) is None:
            raise CdiError(
                "device node %s is not a character device on the host and %s names no %s major: "
                "is the nvidia driver loaded?"
                % (host_path(dev_root, path), host_path(dev_root, "/proc/devices"), driver),
                path=host_path(dev_root, path),
            )
        return {"type": "c", "major": majors[driver], "minor": minor}

    return numbers


# ----------------------------------------------------------------------------- building


def _no_numbers(path):
    return {}


def _device_node(path, dev_root, node_numbers):
    """A device node entry; hostPath only where it differs from path (it forces CDI 0.5.0)."""
    node = {"path": path}
    located = host_path(dev_root, path)
    if located != path:
        node["hostPath"] = located
    node.update(node_numbers(path))
    return node


def _mig_capability_paths(mig, parent_minor, mig_minors, mig_minors_path):
    """Device paths of the GPU-instance and compute-instance access capabilities.

    The capability names use the parent's minor number, not its NVML index."""
    gi_cap = "gpu%d/gi%d/access" % (parent_minor, mig.gi_id)
    ci_cap = "gpu%d/gi%d/ci%d/access" % (parent_minor, mig.gi_id, mig.ci_id)
    paths = []
    for cap in (gi_cap, ci_cap):
        if cap not in mig_minors:
            raise CdiError(
                "MIG device %s (GPU %d, GI %d, CI %d) has no %r entry in the mig-minors file %s"
                % (mig.uuid, mig.gpu_index, mig.gi_id, mig.ci_id, cap, mig_minors_path),
                path=mig_minors_path,
            )
        paths.append("%s/nvidia-cap%d" % (CAPS_DIR, mig_minors[cap]))
    return paths


def _all_device_edits(devices):
    """Merged device nodes of every device, each path once, in first-seen order."""
    nodes = []
    seen = set()
    for device in devices:
        for node in device["containerEdits"]["deviceNodes"]:
            if node["path"] not in seen:
                seen.add(node["path"])
                nodes.append(dict(node))
    return {"deviceNodes": nodes}


def _device_entries(gpus, mig_devices, strategies, mig_minors, mig_minors_path):
    """(names, device paths) per full GPU (GPUs not in MIG mode) and per MIG device."""
    migs_by_gpu = {}
    for mig in mig_devices:
        migs_by_gpu.setdefault(mig.gpu_index, []).append(mig)
    if migs_by_gpu and mig_minors is None:
        raise CdiError(
            "the host has MIG devices but the mig-minors file %s does not exist: cannot name their "
            "capability device nodes (is the nvidia driver loaded? set mig_minors_path if it lives "
            "elsewhere)" % mig_minors_path,
            path=mig_minors_path,
        )
    entries = []
    for gpu in gpus:
        parent = _parent_node(gpu)
        if gpu.mig_current is not True:
            entries.append((gpu_device_names(gpu, strategies), [parent]))
            continue
        for mig in sorted(migs_by_gpu.get(gpu.index, []), key=lambda item: item.mig_index):
            paths = [parent] + _mig_capability_paths(mig, gpu.minor, mig_minors, mig_minors_path)
            entries.append((mig_device_names(mig, strategies), paths))
    return entries


def _parent_node(gpu):
    if gpu.minor is None:
        raise CdiError(
            "GPU %d (%s) reports no device minor number: its /dev/nvidia node is unknown" % (gpu.index, gpu.uuid)
        )
    return "/dev/nvidia%d" % gpu.minor


def container_library_dir():
    """Where driver libraries go in the container: the multiarch directory that the dynamic
    linker of Debian- and Ubuntu-based images searches without any ldcache."""
    return "/usr/lib/" + _cdi_driver.triplet()


def _mount(host, container):
    return {"hostPath": host, "containerPath": container, "options": list(MOUNT_OPTIONS)}


def driver_mounts(driver):
    """Mounts of the driver files: each library at its own name and at its SONAME, the
    binaries in /usr/bin, firmware under /lib/firmware, IPC sockets where they are."""
    libdir = container_library_dir()
    mounts = [_mount(library.host_path, "%s/%s" % (libdir, library.name)) for library in driver.libraries]
    mounts += [
        _mount(library.host_path, "%s/%s" % (libdir, library.soname))
        for library in driver.libraries
        if library.soname != library.name
    ]
    mounts += [_mount(path, "/usr/bin/" + name) for name, path in driver.binaries]
    mounts += [_mount(path, "/lib/firmware/" + relative) for relative, path in driver.firmware]
    mounts += [_mount(path, container) for container, path in driver.ipc]
    return mounts


#: (library name prefix, link target, link name) of nvidia-ctk's extra driver links
#: (internal/discover/symlinks.go); the target "" means the library itself.
_EXTRA_LINKS = (
    ("libcuda.so.", "libcuda.so.1", "libcuda.so"),
    ("libGLX_nvidia.so.", "", "libGLX_indirect.so.0"),
    ("libnvidia-opticalflow.so.", "libnvidia-opticalflow.so.1", "libnvidia-opticalflow.so"),
)


def driver_hooks(driver, hook_path):
    """The createContainer hooks nvidia-ctk adds, run through ``hook_path``
    (``nvidia-cdi-hook <hook>`` or ``nvidia-ctk hook <hook>``)."""
    binary = os.path.basename(hook_path)
    prefix = [binary, "hook"] if binary == "nvidia-ctk" else [binary]
    libdir = container_library_dir()
    links = []
    for library_prefix, target, link in _EXTRA_LINKS:
        for library in driver.libraries:
            if library.name.startswith(library_prefix):
                links += ["--link", "%s::%s/%s" % (target or library.name, libdir, link)]
                break
    calls = [["create-symlinks"] + links] if links else []
    calls += [
        ["enable-cuda-compat", "--host-driver-version=%s" % driver.version],
        ["update-ldcache", "--folder", libdir],
        ["disable-device-node-modification"],
    ]
    return [
        {"hookName": "createContainer", "path": hook_path, "args": prefix + call, "env": ["NVIDIA_CTK_DEBUG=false"]}
        for call in calls
    ]


def build_spec(
    gpus,
    mig_devices,
    kind=DEFAULT_KIND,
    strategies=DEFAULT_NAME_STRATEGIES,
    dev_root="/",
    mig_minors=None,
    control_nodes=CONTROL_DEVICE_NODES,
    mig_minors_path=DEFAULT_MIG_MINORS_PATH,
    driver=None,
    hook_path=None,
    node_numbers=_no_numbers,
    discovery_mode="nvml",
    capability_nodes=(),
):
    """The CDI spec (a dict in canonical key order) for ``gpus`` and ``mig_devices``.

    nvml mode: full-GPU devices for every GPU not in MIG mode, one device per MIG device of
    GPUs in MIG mode (parent node + GI and CI capability nodes, minors from ``mig_minors``)
    and the ``all`` device. management mode: one ``all`` device with every GPU node and
    ``capability_nodes``. Spec-wide edits hold ``control_nodes``, the mounts of ``driver``
    (a ``_cdi_driver.DriverFiles``, or None) and, with ``hook_path``, nvidia-ctk's hooks.
    ``node_numbers(path)`` gives extra device node fields (see node_numbers_for).
    cdiVersion is the lowest version the content needs. ``mig_minors`` may be None only
    when there are no MIG devices; ``mig_minors_path`` only names the file in errors.
    """
    strategies = check_name_strategies(strategies)
    check_kind(kind)
    gpus = sorted(gpus, key=lambda item: item.index)
    if discovery_mode == "management":
        paths = [_parent_node(gpu) for gpu in gpus] + list(capability_nodes)
        entries = [([ALL_DEVICE], paths)] if paths else []
    else:
        entries = _device_entries(gpus, mig_devices, strategies, mig_minors, mig_minors_path)
    devices = [
        {
            "name": name,
            "containerEdits": {"deviceNodes": [_device_node(path, dev_root, node_numbers) for path in paths]},
        }
        for names, paths in entries
        for name in names
    ]
    if not devices:
        raise CdiError(
            "no GPU or MIG device to put in the CDI spec (every selected GPU is in MIG mode without "
            "MIG devices, or no GPU is selected); a CDI spec needs at least one device: create MIG "
            "devices first or use state=absent"
        )
    if discovery_mode != "management":
        devices.append({"name": ALL_DEVICE, "containerEdits": _all_device_edits(devices)})

    common = {"env": (["NVIDIA_CTK_LIBCUDA_DIR=" + container_library_dir()] if driver else []) + list(COMMON_ENV)}
    if control_nodes:
        common["deviceNodes"] = [_device_node(node, dev_root, node_numbers) for node in control_nodes]
    if driver and hook_path:
        common["hooks"] = driver_hooks(driver, hook_path)
    if driver:
        common["mounts"] = driver_mounts(driver)
    spec = {"cdiVersion": None, "kind": kind, "devices": devices, "containerEdits": common}
    spec["cdiVersion"] = minimum_version(spec)
    return spec


def device_names(spec):
    """Names of the devices in ``spec`` (None or a malformed spec gives [])."""
    return [device.get("name") for device in _devices(spec)] if isinstance(spec, dict) else []


# ----------------------------------------------------------------------------- versions


def _version_key(version):
    return tuple(int(part) for part in version.split("."))


def _devices(spec):
    """The device mappings of ``spec``, skipping malformed entries (reported elsewhere)."""
    devices = spec.get("devices")
    return [device for device in devices if isinstance(device, dict)] if isinstance(devices, list) else []


def _all_edits(spec):
    """Spec-level and device-level containerEdits mappings of ``spec``."""
    candidates = [spec.get("containerEdits")] + [device.get("containerEdits") for device in _devices(spec)]
    return [edits for edits in candidates if isinstance(edits, dict)]


def _entries(spec, field):
    """The mappings listed under ``field`` (mounts, deviceNodes, ...) in all edits of ``spec``."""
    found = []
    for edits in _all_edits(spec):
        items = edits.get(field)
        if isinstance(items, list):
            found.extend(item for item in items if isinstance(item, dict))
    return found


def _requires_v040(spec):
    return any(mount.get("type") for mount in _entries(spec, "mounts"))


def _requires_v050(spec):
    if any(isinstance(name, str) and name and not _is_letter(name[0]) for name in device_names(spec)):
        return True
    return any(node.get("hostPath") for node in _entries(spec, "deviceNodes"))


def _requires_v060(spec):
    if spec.get("annotations") or any(device.get("annotations") for device in _devices(spec)):
        return True
    kind = spec.get("kind")
    vendor, sep, device_class = kind.partition("/") if isinstance(kind, str) else ("", "", "")
    return bool(sep and vendor and "." in device_class)


def _requires_v070(spec):
    return any(edits.get("intelRdt") is not None or edits.get("additionalGids") for edits in _all_edits(spec))


def _requires_v110(spec):
    for edits in _all_edits(spec):
        rdt = edits.get("intelRdt")
        if edits.get("netDevices") or (isinstance(rdt, dict) and (rdt.get("schemata") or rdt.get("enableMonitoring"))):
            return True
    return False


#: (version, feature test) from specs-go/version.go; 0.8.0 and 1.0.0 changed no spec field.
_VERSION_GATES = (
    ("0.4.0", _requires_v040),
    ("0.5.0", _requires_v050),
    ("0.6.0", _requires_v060),
    ("0.7.0", _requires_v070),
    ("1.1.0", _requires_v110),
)


def minimum_version(spec):
    """The lowest cdiVersion whose features cover everything ``spec`` uses."""
    required = EARLIEST_VERSION
    for version, needs in _VERSION_GATES:
        if needs(spec):
            required = version
    return required


# ----------------------------------------------------------------------------- validation


def _unknown_fields(item, allowed, where):
    return ["%s: unknown field %r" % (where, key) for key in item if key not in allowed]


def _is_str_list(value):
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _env_problems(env, where):
    if env is None:
        return []
    if not _is_str_list(env):
        return ["%s: env must be a list of strings" % where]
    return [
        "%s: invalid environment variable %r (needs NAME=value)" % (where, var) for var in env if var.find("=") <= 0
    ]


def _uint32_problem(value, field, where):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF):
        return ["%s: %s must be an unsigned 32-bit integer" % (where, field)]
    return []


def _device_node_problems(node, where):
    if not isinstance(node, dict):
        return ["%s: device node must be a mapping" % where]
    problems = _unknown_fields(node, _DEVICE_NODE_FIELDS, where)
    if not node.get("path"):
        problems.append("%s: device node needs a path" % where)
    if node.get("type", "") not in DEVICE_NODE_TYPES:
        problems.append("%s: invalid device node type %r (valid: b, c, u, p)" % (where, node.get("type")))
    permissions = node.get("permissions") or ""
    if any(bit not in "rwm" for bit in permissions):
        problems.append("%s: invalid permissions %r (subset of rwm)" % (where, permissions))
    for field in ("uid", "gid"):
        problems.extend(_uint32_problem(node.get(field), field, where))
    return problems


def _hook_problems(hook, where):
    if not isinstance(hook, dict):
        return ["%s: hook must be a mapping" % where]
    problems = _unknown_fields(hook, _HOOK_FIELDS, where)
    if hook.get("hookName") not in HOOK_NAMES:
        problems.append("%s: invalid hook name %r (valid: %s)" % (where, hook.get("hookName"), ", ".join(HOOK_NAMES)))
    if not hook.get("path"):
        problems.append("%s: hook needs a path" % where)
    elif not isinstance(hook["path"], str) or not hook["path"].startswith("/"):
        problems.append("%s: hook path %r must be absolute" % (where, hook["path"]))
    timeout = hook.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
        problems.append("%s: hook timeout must be a positive number of seconds" % where)
    return problems + _env_problems(hook.get("env"), where)


def _mount_problems(mount, where):
    if not isinstance(mount, dict):
        return ["%s: mount must be a mapping" % where]
    problems = _unknown_fields(mount, _MOUNT_FIELDS, where)
    for field in ("hostPath", "containerPath"):
        if not mount.get(field):
            problems.append("%s: mount needs %s" % (where, field))
    return problems


def _net_device_problems(net_devices, where):
    problems = []
    seen = set()
    for position, net in enumerate(net_devices):
        item = "%s.netDevices[%d]" % (where, position)
        if not isinstance(net, dict):
            problems.append("%s: net device must be a mapping" % item)
            continue
        problems.extend(_unknown_fields(net, _NET_DEVICE_FIELDS, item))
        for field in _NET_DEVICE_FIELDS:
            if not net.get(field):
                problems.append("%s: net device needs %s" % (item, field))
        for field in _NET_DEVICE_FIELDS:
            key = (field, repr(net.get(field)))
            if net.get(field) and key in seen:
                problems.append("%s: duplicate %s %r" % (item, field, net.get(field)))
            seen.add(key)
    return problems


def _intel_rdt_problems(rdt, where):
    if rdt is None:
        return []
    if not isinstance(rdt, dict):
        return ["%s: intelRdt must be a mapping" % where]
    problems = _unknown_fields(rdt, _INTEL_RDT_FIELDS, where + ".intelRdt")
    clos_id = rdt.get("closID") or ""
    if (
        not isinstance(clos_id, str)
        or len(clos_id) >= 4096
        or clos_id in (".", "..")
        or "/" in clos_id
        or "\n" in clos_id
    ):
        problems.append("%s: invalid intelRdt closID %r" % (where, clos_id))
    return problems


_EDIT_LISTS = (("deviceNodes", _device_node_problems), ("hooks", _hook_problems), ("mounts", _mount_problems))


def _edits_problems(edits, where, required):
    if edits is None:
        return ["%s: containerEdits is required" % where] if required else []
    if not isinstance(edits, dict):
        return ["%s: containerEdits must be a mapping" % where]
    problems = _unknown_fields(edits, _EDIT_FIELDS, where + ".containerEdits")
    problems.extend(_env_problems(edits.get("env"), where))
    for field, check in _EDIT_LISTS:
        items = edits.get(field) or []
        if not isinstance(items, list):
            problems.append("%s: %s must be a list" % (where, field))
            continue
        for position, item in enumerate(items):
            problems.extend(check(item, "%s.%s[%d]" % (where, field, position)))
    net_devices = edits.get("netDevices") or []
    if not isinstance(net_devices, list):
        problems.append("%s: netDevices must be a list" % where)
    else:
        problems.extend(_net_device_problems(net_devices, where))
    problems.extend(_intel_rdt_problems(edits.get("intelRdt"), where))
    gids = edits.get("additionalGids") or []
    if not isinstance(gids, list):
        problems.append("%s: additionalGids must be a list" % where)
        gids = []
    for position, gid in enumerate(gids):
        problems.extend(_uint32_problem(gid, "additionalGids[%d]" % position, where))
    if required and not any(edits.get(field) for field in _EDIT_FIELDS):
        problems.append("%s: empty container edits" % where)
    return problems


def _version_problems(spec):
    version = spec.get("cdiVersion")
    if not version:
        return ["cdiVersion is required"]
    bare = version[1:] if isinstance(version, str) and version.startswith("v") else version
    if bare not in SPEC_VERSIONS:
        return ["cdiVersion %r is not a CDI spec version (valid: %s)" % (version, ", ".join(SPEC_VERSIONS))]
    if _version_key(bare) < _version_key(EARLIEST_VERSION):
        return ["cdiVersion %s is older than the earliest supported %s" % (version, EARLIEST_VERSION)]
    required = minimum_version(spec)
    if _version_key(bare) < _version_key(required):
        return ["cdiVersion %s is too low for the features used: needs at least %s" % (version, required)]
    return []


def _device_problems(device, position, seen):
    where = "devices[%d]" % position
    if not isinstance(device, dict):
        return ["%s must be a mapping" % where]
    problems = _unknown_fields(device, _DEVICE_FIELDS, where)
    name = device.get("name")
    if not isinstance(name, str) or not name:
        problems.append("%s: name is required" % where)
    else:
        where = "device %r" % name
        name_problem = device_name_problem(name)
        if name_problem:
            problems.append("%s: name %s" % (where, name_problem))
        if name in seen:
            problems.append("%s: duplicate device name" % where)
        seen.add(name)
    return problems + _edits_problems(device.get("containerEdits"), where, required=True)


def spec_problems(spec):
    """Every reason the CDI reference loader would reject ``spec`` (empty list: valid).

    Checks required fields, unknown fields (the loader is strict), cdiVersion against the
    features used, kind and device names (pkg/parser rules), duplicate names, non-empty
    device edits, env, device nodes, hooks, mounts and net devices (default validator).
    """
    if not isinstance(spec, dict):
        return ["a CDI spec must be a mapping"]
    problems = _unknown_fields(spec, _SPEC_FIELDS, "spec")
    problems.extend(_version_problems(spec))
    kind = spec.get("kind")
    if not kind:
        problems.append("kind is required")
    else:
        kind_issue = kind_problem(kind)
        if kind_issue:
            problems.append("kind %r: %s" % (kind, kind_issue))
    devices = spec.get("devices")
    if not isinstance(devices, list) or not devices:
        problems.append("devices is required and must list at least one device")
        devices = []
    seen = set()
    for position, device in enumerate(devices):
        problems.extend(_device_problems(device, position, seen))
    problems.extend(_edits_problems(spec.get("containerEdits"), "spec", required=False))
    return problems


def check_spec(spec, path=None):
    """Raise CdiError listing every problem when ``spec`` is not a valid CDI spec."""
    problems = spec_problems(spec)
    if problems:
        raise CdiError("invalid CDI spec: %s" % "; ".join(problems), path=path, problems=problems)
    return spec


# ----------------------------------------------------------------------------- files


def spec_path(path):
    """``path`` normalised; InputError unless it is absolute (a relative path would land in
    whatever directory the module happens to run in)."""
    if not os.path.isabs(path):
        raise InputError("path", path, "must be an absolute path such as %s" % DEFAULT_PATH)
    return os.path.normpath(path)


def spec_format(path):
    """``yaml`` or ``json`` from the file extension (the only two CDI loaders read)."""
    extension = os.path.splitext(path or "")[1].lower()
    if extension not in FORMATS:
        raise InputError("path", path, "a CDI spec file must end in .yaml, .yml or .json", sorted(FORMATS))
    if FORMATS[extension] == "yaml" and not HAS_YAML:
        raise InputError("path", path, "YAML specs need PyYAML on the target host; install it or use a .json path")
    return FORMATS[extension]


#: Mode bits a CDI spec must not have: the container runtime runs the spec's hooks as root,
#: so a spec others can write (or one with set-id or sticky bits) hands them root.
UNSAFE_MODE_BITS = 0o7000 | 0o002

_MODE_RULE = (
    "must be an octal file mode such as '0644' or '0640', without write permission for others "
    "and without set-id or sticky bits"
)


def parse_mode(mode):
    """File mode as an int from an octal string ("0644") or an int already parsed by YAML;
    InputError for modes with UNSAFE_MODE_BITS."""
    if isinstance(mode, bool):
        raise InputError("mode", mode, _MODE_RULE)
    if isinstance(mode, int):
        value = mode
    elif isinstance(mode, str) and re.match(r"^0?[0-7]{3,4}$", mode.strip()):
        value = int(mode.strip(), 8)
    else:
        raise InputError("mode", mode, _MODE_RULE)
    if not 0 <= value <= 0o7777:
        raise InputError("mode", mode, "must be an octal file mode between 0000 and 7777")
    if value & UNSAFE_MODE_BITS:
        raise InputError("mode", mode, _MODE_RULE)
    return value


@functools.lru_cache(maxsize=None)
def _spec_dumper():
    """A PyYAML dumper that writes every value in place (no anchors or aliases), indents
    lists under their key, and quotes strings starting with a digit, so names like 0 and 1:0
    stay strings for every YAML reader (YAML 1.1 reads 1:0 as the number 60)."""
    import yaml

    class SpecDumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

        def increase_indent(self, flow=False, indentless=False):
            """Indent list items under their key, as nvidia-ctk and yamllint expect."""
            return super(SpecDumper, self).increase_indent(flow, False)

    def represent_str(dumper, value):
        style = '"' if value[:1].isdigit() else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    SpecDumper.add_representer(str, represent_str)
    return SpecDumper


#: The first two lines of a YAML spec written here: the digest of the spec it holds (as
#: same_content compares specs) and of the rest of the file. A run whose spec has not changed
#: then knows it without PyYAML, which takes ~30 ms to import and read an 8-GPU spec; a file
#: changed by anyone else no longer matches its lines and is read in full.
_FINGERPRINT = "# gpuops.mig spec sha256:%s\n# gpuops.mig content sha256:%s\n"
_FINGERPRINT_PATTERN = re.compile(rb"# gpuops\.mig spec sha256:([0-9a-f]{64})\n# gpuops\.mig content sha256:([0-9a-f]{64})\n")


def _canonical(spec):
    """JSON text of ``spec`` independent of key order and device order."""

    def dump(value):  # default=str: YAML from elsewhere may hold dates and other non-JSON values
        return json.dumps(value, sort_keys=True, default=str)

    if isinstance(spec, dict) and isinstance(spec.get("devices"), list):
        spec = dict(spec, devices=sorted(spec["devices"], key=dump))
    return dump(spec)


def _digest(text):
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode("utf-8")).hexdigest()


def render(spec, fmt):
    """The file content for ``spec`` in ``fmt`` (yaml or json), deterministic."""
    if fmt == "json":
        return json.dumps(spec, indent=2) + "\n"
    import yaml

    body = "---\n" + yaml.dump(spec, Dumper=_spec_dumper(), sort_keys=False, default_flow_style=False)
    return _FINGERPRINT % (_digest(_canonical(spec)), _digest(body)) + body


def _written_for(data, spec):
    """Whether file bytes ``data`` are a spec written here for one that means ``spec``,
    unchanged since (its fingerprint lines match both)."""
    match = _FINGERPRINT_PATTERN.match(data)
    return bool(match) and match.group(2).decode() == _digest(data[match.end():]) and match.group(1).decode() == _digest(_canonical(spec))


def _parse(text, path):
    """(parsed spec text, None) or (None, why the text is no spec); JSON for .json paths.

    YAML is read with libyaml's safe loader where PyYAML has it: an 8-GPU spec (80 KB)
    takes 18 ms with it and 190 ms in pure Python. A spec never needs an alias, and
    expanding a crafted one (an "alias bomb") takes gigabytes: those are refused."""
    unreadable = (None, "is neither valid JSON nor valid YAML")
    if path.lower().endswith(".json") or not HAS_YAML:
        try:
            return json.loads(text), None
        except ValueError:
            return unreadable
    import yaml

    libyaml = hasattr(yaml, "CSafeLoader")
    try:
        events = yaml.parse(text, Loader=yaml.CSafeLoader if libyaml else yaml.SafeLoader)
        if any(isinstance(event, yaml.AliasEvent) for event in events):
            return None, "uses YAML aliases, which no CDI spec needs"
        if libyaml:
            return yaml.load(text, Loader=yaml.CSafeLoader), None
        return yaml.load(text, Loader=yaml.SafeLoader), None
    except (ValueError, yaml.YAMLError):
        return unreadable


#: What is at a spec path now: ``found`` (anything, even a dangling link), ``content`` (the
#: parsed spec or None), ``problem`` (why it is no readable spec file: a symlink, a FIFO,
#: too large, unparsable...) and ``mode`` (permission bits of a regular file).
ExistingFile = namedtuple("ExistingFile", ["found", "content", "problem", "mode"])

_FILE_TYPES = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _not_regular(mode):
    kind = next((name for test, name in _FILE_TYPES if test(mode)), "not a regular file")
    return ExistingFile(True, None, "is %s, not a regular file" % kind, None)


def read_existing(path, wanted=None):
    """What is at ``path``, read without following a symlink, without blocking on a FIFO
    and without reading more than MAX_SPEC_BYTES. A file written here for a spec that
    means ``wanted`` is not parsed: its content is ``wanted``."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return ExistingFile(False, None, None, None)
        try:
            return _not_regular(os.lstat(path).st_mode)
        except OSError:
            raise CdiError("cannot read %s: %s" % (path, exc), path=path)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            return _not_regular(info.st_mode)
        data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        return ExistingFile(True, None, "is larger than %d MiB, more than any CDI spec" % (MAX_SPEC_BYTES >> 20), None)
    if wanted is not None and _written_for(data, wanted):
        return ExistingFile(True, wanted, None, stat.S_IMODE(info.st_mode))
    content, problem = _parse(data.decode("utf-8", "replace"), path)
    return ExistingFile(True, content, problem, stat.S_IMODE(info.st_mode))


def _content_before(existing):
    """The spec an existing file held for results and diffs: None when there was no file,
    {} when it held no readable spec."""
    if not existing.found:
        return None
    return existing.content if existing.content is not None else {}


def same_content(left, right):
    """Whether two specs mean the same: key order, formatting and device order are ignored."""
    return _canonical(left) == _canonical(right)


def is_cdi_spec(content):
    """Whether parsed file content is a CDI spec at all (has cdiVersion and kind), valid or not."""
    return isinstance(content, dict) and all(isinstance(content.get(field), str) for field in ("cdiVersion", "kind"))


def _foreign(existing, kind):
    """Why the existing file is not a spec of ``kind`` this module may replace or remove."""
    if existing.problem:
        return existing.problem
    if not is_cdi_spec(existing.content):
        return "is not a CDI spec (no cdiVersion and kind)"
    if existing.content["kind"] != kind:
        return "is a CDI spec of kind %s, not %s" % (existing.content["kind"], kind)
    return None


_SHARED_DIRECTORY_RULE = (
    "another user could add or swap a spec there whose hooks the container runtime runs as root; "
    "use a directory only root can write (such as /var/run/cdi or /etc/cdi), or set "
    "allow_writable_directory=true"
)


def check_directory(path, allow_writable=False):
    """InputError when users other than root and this one could change the spec's
    directory: it writable by group or others (for a missing directory: its nearest
    existing ancestor, where another user could create it first), a directory above that
    writable by them without the sticky bit, or any of these owned by another user."""
    if allow_writable:
        return
    directory, spec_directory = os.path.dirname(path), True
    while True:
        try:
            info = os.stat(directory)
        except OSError:
            info = None
        if info is not None:
            problem = None
            if info.st_uid not in (0, os.geteuid()):
                problem = "is owned by uid %d" % info.st_uid
            elif info.st_mode & 0o022 and (spec_directory or not info.st_mode & stat.S_ISVTX):
                problem = "is writable by group or others (mode %04o)" % stat.S_IMODE(info.st_mode)
            if problem:
                raise InputError("path", path, "directory %s %s: %s" % (directory, problem, _SHARED_DIRECTORY_RULE))
            spec_directory = False
        if os.path.dirname(directory) == directory:
            return
        directory = os.path.dirname(directory)


def _chmod_regular_file(path, mode):
    """chmod on the regular file at ``path`` itself, never on what a symlink points to."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise CdiError("%s is no longer a regular file: mode not changed" % path, path=path)
        os.fchmod(descriptor, mode)
    finally:
        os.close(descriptor)


def ensure_spec(path, spec, mode, check_mode=False, force=False, allow_writable_directory=False):
    """Make ``path`` hold ``spec`` with file ``mode``; return (changed, spec found before).

    Refuses (InputError) a directory others could write (see check_directory) and, unless
    ``force``, to replace anything but a CDI spec of the same kind: another vendor's spec,
    a file that is not a spec, a symlink or a FIFO. The file is rewritten only when its
    content means something else; a wrong mode alone is fixed in place. Nothing is
    touched in check mode."""
    fmt = spec_format(path)
    check_spec(spec, path=path)
    check_directory(path, allow_writable_directory)
    existing = read_existing(path, wanted=spec)
    problem = _foreign(existing, spec["kind"]) if existing.found else None
    if problem and not force:
        raise InputError("path", path, "%s: refusing to replace it (force=true replaces it)" % problem)
    before = _content_before(existing)
    content_changed = problem is not None or not existing.found or not same_content(existing.content, spec)
    mode_changed = not content_changed and existing.mode != mode
    if check_mode:
        return content_changed or mode_changed, before
    try:
        if content_changed:
            write_atomically(path, render(spec, fmt), mode)
        elif mode_changed:
            _chmod_regular_file(path, mode)
    except (IOError, OSError) as exc:
        raise CdiError("cannot write CDI spec %s: %s" % (path, exc), path=path)
    return content_changed or mode_changed, before


def remove_spec(path, kind=DEFAULT_KIND, check_mode=False):
    """Remove the spec of ``kind`` at ``path`` if present; return (changed, spec found before).

    Anything else (a file that is not a CDI spec, another kind's spec, a symlink, a FIFO)
    is never removed: InputError naming ``path``."""
    existing = read_existing(path)
    if not existing.found:
        return False, None
    problem = _foreign(existing, kind)
    if problem:
        raise InputError("path", path, "%s: refusing to remove it" % problem)
    if not check_mode:
        try:
            os.unlink(path)
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise CdiError("cannot remove CDI spec %s: %s" % (path, exc), path=path)
    return True, existing.content


def describe_devices(spec):
    """cdiVersion, kind and one ``name: node node ...`` line per device, for diff output."""
    if not isinstance(spec, dict):
        return ""
    lines = ["cdiVersion: %s" % spec.get("cdiVersion"), "kind: %s" % spec.get("kind")]
    for device in _devices(spec):
        edits = device.get("containerEdits")
        nodes = edits.get("deviceNodes") if isinstance(edits, dict) else None
        paths = [str(node.get("path")) for node in nodes if isinstance(node, dict)] if isinstance(nodes, list) else []
        lines.append("%s: %s" % (device.get("name"), " ".join(paths)))
    return "\n".join(lines) + "\n"


def spec_diff(path, before, after):
    """Ansible diff dict: the device list (with their device nodes) before and after."""
    return {
        "before_header": path,
        "after_header": path,
        "before": describe_devices(before),
        "after": describe_devices(after),
    }


# ----------------------------------------------------------------------------- module entry

SpecOptions = namedtuple(
    "SpecOptions",
    [
        "path",
        "kind",
        "strategies",
        "state",
        "mode",
        "dev_root",
        "mig_minors_path",
        "driver_root",
        "hooks",
        "hook_path",
        "discovery_mode",
        "force",
        "allow_writable_directory",
    ],
)


def _absolute_or_none(option, value):
    if value is not None and not os.path.isabs(value):
        raise InputError(option, value, "must be an absolute path")
    return os.path.normpath(value) if value is not None else None


def _choice(params, option, choices):
    value = params.get(option) or choices[0]
    if value not in choices:
        raise InputError(option, value, "unknown value", choices)
    return value


def spec_options(params):
    """Validated cdi_spec options from module parameters (InputError before anything runs)."""
    state = params.get("state") or "present"
    path = spec_path(params.get("path") or DEFAULT_PATH)
    spec_format(path)
    mode = params.get("mode")
    discovery_mode = _choice(params, "discovery_mode", DISCOVERY_MODES)
    hooks = _choice(params, "hooks", HOOK_CHOICES)
    hook_path = _absolute_or_none("hook_path", params.get("hook_path"))
    if hook_path and hooks == "none":
        raise InputError("hook_path", hook_path, "conflicts with hooks=none (leave hook_path unset)")
    default_kind = MANAGEMENT_KIND if discovery_mode == "management" else DEFAULT_KIND
    return SpecOptions(
        path=path,
        kind=check_kind(params.get("kind") or default_kind),
        strategies=check_name_strategies(params.get("device_name_strategies") or DEFAULT_NAME_STRATEGIES),
        state=state,
        mode=parse_mode(DEFAULT_MODE if mode is None else mode),
        dev_root=params.get("dev_root"),
        mig_minors_path=params.get("mig_minors_path"),
        driver_root=_absolute_or_none("driver_root", params.get("driver_root")),
        hooks=hooks,
        hook_path=hook_path,
        discovery_mode=discovery_mode,
        force=bool(params.get("force")),
        allow_writable_directory=bool(params.get("allow_writable_directory")),
    )


def live_spec(hardware, gpus, options):
    """The spec for the live state of ``gpus`` (GpuDevice list) read through ``hardware``:
    device nodes under the dev root, driver files of NVML's driver version under the
    driver root, hooks through the host's nvidia-cdi-hook/nvidia-ctk (hooks=auto)."""
    dev_root = options.dev_root or hardware.dev_root
    mig_minors_path = options.mig_minors_path or hardware.mig_minors_path
    driver = _cdi_driver.discover(options.driver_root or hardware.driver_root, hardware.driver_version())
    hook_path = options.hook_path or (_cdi_driver.find_hook_binary() if options.hooks == "auto" else None)
    management = options.discovery_mode == "management"
    mig_devices = (
        [] if management else [mig for gpu in gpus if gpu.mig_current for mig in hardware.mig_devices(gpu.index)]
    )
    return build_spec(
        gpus,
        mig_devices,
        kind=options.kind,
        strategies=options.strategies,
        dev_root=dev_root,
        mig_minors=read_mig_minors(mig_minors_path) if mig_devices else None,
        control_nodes=present_control_nodes(dev_root),
        mig_minors_path=mig_minors_path,
        driver=driver,
        hook_path=hook_path,
        node_numbers=node_numbers_for(dev_root),
        discovery_mode=options.discovery_mode,
        capability_nodes=present_capability_nodes(dev_root) if management else (),
    )


def manage_spec(options, hardware=None, gpus=None, check_mode=False, diff=False):
    """Write (state=present, from the live state) or remove (state=absent) the spec file.

    Returns the module result: changed, path, kind, devices (names now in the file),
    cdi_version, and diff when asked for."""
    if options.state == "absent":
        changed, before = remove_spec(options.path, options.kind, check_mode)
        after = None
    else:
        after = live_spec(hardware, gpus, options)
        changed, before = ensure_spec(
            options.path, after, options.mode, check_mode, options.force, options.allow_writable_directory
        )
    result = {
        "changed": changed,
        "path": options.path,
        "kind": options.kind,
        "devices": device_names(after),
        "cdi_version": after["cdiVersion"] if after else None,
    }
    if diff:
        result["diff"] = spec_diff(options.path, before, after)
    return result

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Discovery of an NVIDIA driver installation for CDI specs: what a container needs from
the host besides device nodes.

Follows what ``nvidia-ctk cdi generate`` (nvml mode) discovers (pkg/nvcdi/driver-nvml.go,
internal/lookup/root, internal/discover): the driver's ``lib*.so.<driver version>``
libraries (version from NVML) in the driver root's library directories and its ldcache,
each library's SONAME (read from the ELF file, as nvidia-ctk does), the driver binaries,
GSP firmware ``nvidia/<version>/gsp*.bin`` and the IPC sockets of nvidia-persistenced,
Fabric Manager and MPS. A ``nvidia-cdi-hook`` or ``nvidia-ctk`` binary on the host is
found here too. Everything is read without following a FIFO or device: only regular
files (and symlinks to them) are opened, each read is bounded.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import os
import platform
import stat
import struct
from collections import namedtuple

from ._errors import InputError

#: Debian multiarch triplets per machine (platform.machine()).
TRIPLETS = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu"}
BINARIES = (
    "nvidia-smi",
    "nvidia-debugdump",
    "nvidia-persistenced",
    "nvidia-cuda-mps-control",
    "nvidia-cuda-mps-server",
    "nvidia-imex",
    "nvidia-imex-ctl",
)
IPC_PATHS = ("/var/run/nvidia-persistenced/socket", "/var/run/nvidia-fabricmanager/socket", "/tmp/nvidia-mps")
BINARY_DIRS = ("usr/bin", "usr/sbin", "bin", "sbin", "usr/local/bin", "usr/local/sbin")
FIRMWARE_DIRS = ("lib/firmware", "usr/lib/firmware", "firmware")
#: Hook binaries of the NVIDIA Container Toolkit, in the order nvidia-ctk prefers them.
HOOK_BINARIES = ("nvidia-cdi-hook", "nvidia-ctk")
HOST_BINARY_DIRS = ("/usr/bin", "/usr/local/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/sbin")
#: The libraries nvidia-ctk infers the driver from (root.go inferVersion).
CORE_LIBRARIES = ("libcuda.so", "libnvidia-ml.so")

_MAX_LDCACHE_BYTES = 16 << 20
_MAX_ELF_DYNAMIC_BYTES = 1 << 20
_LDCACHE_MAGIC = b"glibc-ld.so.cache1.1"

Library = namedtuple("Library", ["name", "host_path", "soname"])
DriverFiles = namedtuple("DriverFiles", ["root", "version", "libraries", "binaries", "firmware", "ipc"])


def triplet():
    """The multiarch triplet of this machine's libraries (x86_64-linux-gnu if unknown)."""
    return TRIPLETS.get(platform.machine(), TRIPLETS["x86_64"])


def library_dirs():
    """Library directories searched under a driver root, relative to it (nvidia-ctk's
    library locator defaults)."""
    arch = triplet()
    return ("lib64", "usr/lib64", "lib/" + arch, "usr/lib/" + arch, "lib", "usr/lib", "usr/local/lib")


def under_root(root, path):
    """``path`` (absolute, as seen inside the driver root) on the host."""
    if not root or os.path.normpath(root) == "/":
        return path
    return os.path.join(root, path.lstrip("/"))


def mode_of(path):
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def _is_regular(path):
    mode = mode_of(path)
    return mode is not None and stat.S_ISREG(mode)


def open_regular(path):
    """A binary handle on ``path`` when it is a regular file (never blocks on a FIFO), else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    handle = os.fdopen(descriptor, "rb")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        handle.close()
        return None
    return handle


def _listdir(directory):
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


# ----------------------------------------------------------------------------- ELF, ldcache


def elf_soname(path):
    """The DT_SONAME of the 64-bit little-endian ELF object at ``path``, or None."""
    handle = open_regular(path)
    if handle is None:
        return None
    with handle:
        header = handle.read(64)
        if len(header) < 64 or header[:6] != b"\x7fELF\x02\x01":
            return None
        (table_offset,) = struct.unpack_from("<Q", header, 32)
        entry_size, count = struct.unpack_from("<HH", header, 54)
        if entry_size < 56 or count > 128:
            return None
        handle.seek(table_offset)
        table = handle.read(entry_size * count)
        loads, dynamic = [], None
        for position in range(min(count, len(table) // entry_size)):
            kind, dummy, offset, address, dummy, size = struct.unpack_from("<IIQQQQ", table, position * entry_size)
            if kind == 1:
                loads.append((address, offset, size))
            elif kind == 2:
                dynamic = (offset, min(size, _MAX_ELF_DYNAMIC_BYTES))
        if dynamic is None:
            return None
        handle.seek(dynamic[0])
        data = handle.read(dynamic[1])
        tags = {}
        for position in range(0, len(data) - 15, 16):
            tag, value = struct.unpack_from("<qQ", data, position)
            if tag == 0:
                break
            tags.setdefault(tag, value)
        if 14 not in tags or 5 not in tags:  # DT_SONAME, DT_STRTAB
            return None
        strings = [offset + tags[5] - address for address, offset, size in loads if address <= tags[5] < address + size]
        if not strings:
            return None
        handle.seek(strings[0] + tags[14])
        name = handle.read(256).split(b"\0", 1)[0].decode("ascii", "replace")
        return name or None


def ldcache_paths(path):
    """Library paths listed in the glibc ld.so.cache at ``path`` (new format, also when it
    follows an old-format part); [] when there is no readable cache."""
    handle = open_regular(path)
    if handle is None:
        return []
    with handle:
        data = handle.read(_MAX_LDCACHE_BYTES)
    start = data.find(_LDCACHE_MAGIC)
    if start < 0 or len(data) < start + 48:
        return []
    (count,) = struct.unpack_from("<I", data, start + 20)
    paths = []
    for position in range(count):
        entry = start + 48 + 24 * position
        if entry + 24 > len(data):
            break
        value = struct.unpack_from("<I", data, entry + 8)[0] + start
        end = data.find(b"\0", value)
        if 0 <= value < len(data) and end > value:
            paths.append(data[value:end].decode("utf-8", "replace"))
    return paths


# ----------------------------------------------------------------------------- discovery


def _link_soname(directory, name):
    """The SONAME link the installer made for library ``name`` (``libcuda.so.1`` pointing
    at ``libcuda.so.580.159.04``), for files that are not readable ELF objects."""
    stem = name.split(".so.", 1)[0] + ".so."
    for entry in _listdir(directory):
        path = os.path.join(directory, entry)
        if entry.startswith(stem) and entry != name and os.path.islink(path):
            if os.path.basename(os.readlink(path)) == name:
                return entry
    return None


def _cached_libraries(root, pattern):
    """Host paths of the files the ldcache of ``root`` leads to whose name matches
    ``pattern``: the cache lists SONAME links (``libcuda.so.1``), so each entry counts by
    the file it resolves to, when that stays below ``root``."""
    found = []
    for cached in ldcache_paths(under_root(root, "/etc/ld.so.cache")):
        real = os.path.realpath(under_root(root, cached))
        inside = os.path.normpath(root) == "/" or real.startswith(os.path.normpath(root) + "/")
        if inside and fnmatch.fnmatch(os.path.basename(real), pattern):
            found.append(real)
    return found


def _candidate_libraries(root, pattern):
    """(name, host path) of the regular files matching ``pattern`` in the library
    directories and the ldcache of ``root``; one per real file and per name."""
    paths = [
        under_root(root, "/" + directory) + "/" + entry
        for directory in library_dirs()
        for entry in _listdir(under_root(root, "/" + directory))
        if fnmatch.fnmatch(entry, pattern)
    ]
    found, seen = [], set()
    for path in paths + _cached_libraries(root, pattern):
        name, real = os.path.basename(path), os.path.realpath(path)
        if _is_regular(path) and name not in seen and real not in seen:
            seen.update((name, real))
            found.append((name, path))
    return found


def _libraries(root, version):
    libraries = []
    for name, path in _candidate_libraries(root, "lib?*.so." + version):
        soname = elf_soname(path) or _link_soname(os.path.dirname(path), name) or name
        libraries.append(Library(name=name, host_path=path, soname=soname))
    return libraries


def _no_driver(root, version):
    """The InputError for a driver root without the libraries of NVML's driver version."""
    other = sorted(name for core in CORE_LIBRARIES for name, dummy in _candidate_libraries(root, core + ".*.*"))
    if other:
        problem = (
            "NVML reports driver version %s, but this driver root holds %s: the driver was updated "
            "without reloading the kernel module (reboot), or driver_root names another installation"
            % (version, ", ".join(other))
        )
    else:
        problem = "no NVIDIA driver found: looked for %s in %s and in the ldcache %s" % (
            " and ".join("%s.%s" % (core, version) for core in CORE_LIBRARIES),
            ", ".join(under_root(root, "/" + directory) for directory in library_dirs()),
            under_root(root, "/etc/ld.so.cache"),
        )
    return InputError("driver_root", root, problem)


def _first_executable(root, name):
    for directory in BINARY_DIRS:
        path = under_root(root, "/%s/%s" % (directory, name))
        if _is_regular(path) and os.access(path, os.X_OK):
            return path
    return None


def _firmware(root, version):
    found = {}
    for directory in FIRMWARE_DIRS:
        folder = under_root(root, "/%s/nvidia/%s" % (directory, version))
        for entry in _listdir(folder):
            if fnmatch.fnmatch(entry, "gsp*.bin") and entry not in found and _is_regular(os.path.join(folder, entry)):
                found[entry] = os.path.join(folder, entry)
    return [("nvidia/%s/%s" % (version, entry), path) for entry, path in sorted(found.items())]


def _ipc(root):
    found = []
    for path in IPC_PATHS:
        mode = mode_of(under_root(root, path))
        if mode is not None and (stat.S_ISSOCK(mode) or (path == "/tmp/nvidia-mps" and stat.S_ISDIR(mode))):
            found.append((path, under_root(root, path)))
    return found


def discover(root, version):
    """The driver files of driver ``version`` (as NVML reports it) under ``root``.

    InputError naming ``driver_root`` when neither libcuda nor libnvidia-ml of that version
    is there, with the versions found instead when there are other ones."""
    libraries = _libraries(root, version)
    if not any(library.name.startswith(CORE_LIBRARIES) for library in libraries):
        raise _no_driver(root, version)
    binaries = [(name, path) for name, path in ((name, _first_executable(root, name)) for name in BINARIES) if path]
    return DriverFiles(
        root=root,
        version=version,
        libraries=libraries,
        binaries=binaries,
        firmware=_firmware(root, version),
        ipc=_ipc(root),
    )


def find_hook_binary(directories=HOST_BINARY_DIRS):
    """Path of ``nvidia-cdi-hook`` (or else ``nvidia-ctk``) on this host, or None."""
    for name in HOOK_BINARIES:
        for directory in directories:
            path = os.path.join(directory, name)
            if _is_regular(path) and os.access(path, os.X_OK):
                return path
    return None

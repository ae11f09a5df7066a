# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The simulated host's NVIDIA driver installation under ``<root>/driver``, so that CDI
discovery runs on simulated hosts exactly as on real ones.

Named and linked like a real driver (file list of an H200 with driver 580.159.04,
reference/captures/h200-580.159.04/driver-files-full.txt), for the host's driver version:

- ``usr/lib/<multiarch>/lib*.so.<version>``: tiny but real ELF shared objects with the
  right SONAME (``libcuda.so.1``, ``libnvidia-nvvm.so.4``, or the versioned name itself as
  for ``libnvidia-glcore``), so a container's dynamic linker can load them; SONAME and
  ``.so`` development links next to them, as the driver installer makes them;
- ``usr/bin/nvidia-smi`` and the other driver binaries: shell scripts; ``nvidia-smi``
  prints the simulated GPU list in ``nvidia-smi -L`` form;
- ``lib/firmware/nvidia/<version>/gsp_*.bin``: placeholder GSP firmware;

and ``<root>/proc/devices`` with the character device majors the driver registers (195,
238 and 241 as on the captured H200), which CDI needs for the simulator's device nodes:
they are regular files, not character devices (see docs/cdi.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import platform
import struct

from .._cdi_driver import BINARIES as DRIVER_BINARIES
from .._cdi_driver import triplet
from .._files import write_atomically
from .boards import BOARDS

#: (library, SONAME: "1"/"4" for lib<name>.so.1/.4, None for the versioned file name).
LIBRARIES = (
    ("libcuda", "1"),
    ("libcudadebugger", "1"),
    ("libnvidia-ml", "1"),
    ("libnvidia-ptxjitcompiler", "1"),
    ("libnvidia-nvvm", "4"),
    ("libnvidia-cfg", "1"),
    ("libnvidia-allocator", "1"),
    ("libnvidia-opencl", "1"),
    ("libnvidia-encode", "1"),
    ("libnvcuvid", "1"),
    ("libnvidia-opticalflow", "1"),
    ("libnvidia-gpucomp", None),
    ("libnvidia-tls", None),
    ("libnvidia-glcore", None),
)
#: The driver binaries CDI mounts, without IMEX (a separate package the captured host lacks).
BINARIES = tuple(name for name in DRIVER_BINARIES if not name.startswith("nvidia-imex"))
FIRMWARE = ("gsp_ga10x.bin", "gsp_tu10x.bin")
#: Character device majors of the captured H200 (nvidia-uvm and nvidia-caps are dynamic).
DEVICE_MAJORS = (("nvidia-frontend", 195), ("nvidia-uvm", 238), ("nvidia-caps", 241))

#: ELF e_machine per machine (platform.machine()); x86-64 for anything else.
_ELF_MACHINES = {"x86_64": 62, "aarch64": 183}


def driver_root(root):
    """Where the simulated host under ``root`` has its driver installed."""
    return os.path.join(root, "driver")


def shared_object(soname, machine=None):
    """A minimal, loadable ELF64 little-endian shared object whose only content is its
    SONAME (one writable PT_LOAD holding a dynamic section, an empty symbol table and a
    one-bucket hash table, plus PT_GNU_STACK so loaders need no executable stack)."""
    e_machine = _ELF_MACHINES.get(machine or platform.machine(), _ELF_MACHINES["x86_64"])
    header_size, phdr_size, phdr_count = 64, 56, 3
    strings = b"\0" + soname.encode("ascii") + b"\0"
    strtab = header_size + phdr_size * phdr_count
    symtab = (strtab + len(strings) + 7) // 8 * 8
    hashtab = symtab + 24
    dynamic = hashtab + 16
    entries = ((4, hashtab), (5, strtab), (6, symtab), (10, len(strings)), (11, 24), (14, 1), (0, 0))
    total = dynamic + 16 * len(entries)
    image = struct.pack(
        "<4sBBBB8xHHIQQQIHHHHHH",
        b"\x7fELF",
        2,
        1,
        1,
        0,
        3,
        e_machine,
        1,
        0,
        header_size,
        0,
        0,
        header_size,
        phdr_size,
        phdr_count,
        64,
        0,
        0,
    )
    image += struct.pack("<IIQQQQQQ", 1, 6, 0, 0, 0, total, total, 0x1000)  # PT_LOAD, RW
    image += struct.pack("<IIQQQQQQ", 2, 6, dynamic, dynamic, dynamic, 16 * len(entries), 16 * len(entries), 8)
    image += struct.pack("<IIQQQQQQ", 0x6474E551, 6, 0, 0, 0, 0, 0, 16)  # PT_GNU_STACK
    image += strings + b"\0" * (symtab - strtab - len(strings))
    image += b"\0" * 24  # the null symbol
    image += struct.pack("<IIII", 1, 1, 0, 0)  # nbucket, nchain, bucket[0], chain[0]
    image += b"".join(struct.pack("<qQ", tag, value) for tag, value in entries)
    return image


def _nvidia_smi(state):
    lines = ["NVIDIA-SMI %s (gpuops.mig simulated driver)  Driver Version: %s" % ((state["driver_version"],) * 2)]
    for gpu in state["gpus"]:
        lines.append("GPU %d: %s (UUID: %s)" % (gpu["index"], BOARDS[gpu["board"]]["name"], gpu["uuid"]))
    return "#!/bin/sh\ncat <<'EOF'\n%s\nEOF\n" % "\n".join(lines)


def _script(name, version):
    return "#!/bin/sh\necho '%s: gpuops.mig simulated driver %s'\n" % (name, version)


def _link(target, path):
    if not os.path.lexists(path):
        os.symlink(target, path)


def build_tree(state):
    """Install the simulated driver for ``state`` under its root (idempotent)."""
    root = state["root"]
    version = state["driver_version"]
    base = driver_root(root)
    libdir = os.path.join(base, "usr", "lib", triplet())
    for name, soname_suffix in LIBRARIES:
        real = "%s.so.%s" % (name, version)
        soname = "%s.so.%s" % (name, soname_suffix) if soname_suffix else real
        write_atomically(os.path.join(libdir, real), shared_object(soname), 0o755, durable=False)
        if soname != real:
            _link(real, os.path.join(libdir, soname))
        _link(soname, os.path.join(libdir, name + ".so"))
    for name in BINARIES:
        content = _nvidia_smi(state) if name == "nvidia-smi" else _script(name, version)
        write_atomically(os.path.join(base, "usr", "bin", name), content, 0o755, durable=False)
    for name in FIRMWARE:
        write_atomically(
            os.path.join(base, "lib", "firmware", "nvidia", version, name),
            "simulated GSP firmware\n",
            0o644,
            durable=False,
        )
    devices = "Character devices:\n%s\n" % "\n".join("%3d %s" % (major, name) for name, major in DEVICE_MAJORS)
    write_atomically(os.path.join(root, "proc", "devices"), devices, 0o444, durable=False)

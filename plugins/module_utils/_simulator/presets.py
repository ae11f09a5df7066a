# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Simulated host presets: which board, how many GPUs, their PCI layout and module ids,
and the NVSwitch Fabric Manager partition table (data only).

Preset fields: description, board (key of boards.BOARDS), pci_bus_ids (one per GPU, in
NVML enumeration order), module_ids (NVML module id per GPU; on Hopper and later this is
the Fabric Manager GPU physical id), fabric (key of FABRIC_TABLES, or None without
NVSwitch), virtualization_mode (what nvmlDeviceGetVirtualizationMode answers, by the names
of _capabilities.VIRTUALIZATION_MODES: "none" bare metal, "passthrough" a VM that owns
whole GPUs, "vgpu_host" a vGPU hypervisor), nvlink_line_rate_mbps, driver_version,
cuda_driver_version, inferred.

Whether a GPU reset works follows from the virtualization mode (reset_supported_by_default):
in a passthrough or vGPU guest the hypervisor owns the reset and refuses it (the real H200
passthrough VM of reference/captures had no reset path; mig-parted reboots there). The
simulated_host option reset_supported overrides it per host (a hypervisor that does allow
guest resets, or a bare-metal host without a reset path).

h200-passthrough-vm is the machine of the real capture (reference/captures/h200-580.159.04):
one H200 in a full-passthrough VM, its NVSwitch fabric not visible (fabric state
NOT_SUPPORTED), bus id and module id as captured.

PCI bus ids of the DGX A100 and DGX H100 layouts are the well-known ones of those systems;
the others are plausible layouts (inferred). Module ids 1..N in enumeration order are
(inferred) everywhere: real systems do not always enumerate in module order.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def _singles(first_id, physical_ids):
    """1-GPU partitions: consecutive ids, one per physical id, no NVLinks."""
    return [(first_id + offset, [physical_id], 0) for offset, physical_id in enumerate(physical_ids)]


# Default Fabric Manager partitions (fabric-manager-and-cdi.md A2), as
# (partition id, GPU physical ids, NVLinks per GPU).
FABRIC_TABLES = {
    # Single baseboard strapped for the bottom tray (physical ids 1-8): ids 1, 7-8, 11-14
    # and 19-26 (INFERRED in the reference from the 16-GPU table).
    "a100-bottom-tray": [
        (1, [1, 2, 3, 4, 5, 6, 7, 8], 12),
        (7, [1, 2, 3, 4], 12),
        (8, [5, 6, 7, 8], 12),
        (11, [1, 2], 12),
        (12, [3, 4], 12),
        (13, [5, 6], 12),
        (14, [7, 8], 12),
    ] + _singles(19, range(1, 9)),
    # DGX/HGX H100, also H200 (same default partitions); pairs are {1,3},{2,4},{5,7},{6,8}.
    "hopper-8gpu": [
        (0, [1, 2, 3, 4, 5, 6, 7, 8], 18),
        (1, [1, 2, 3, 4], 18),
        (2, [5, 6, 7, 8], 18),
        (3, [1, 3], 18),
        (4, [2, 4], 18),
        (5, [5, 7], 18),
        (6, [6, 8], 18),
    ] + _singles(7, range(1, 9)),
    # DGX/HGX B200: ids start at 1, adjacent pairs.
    "blackwell-8gpu": [
        (1, [1, 2, 3, 4, 5, 6, 7, 8], 18),
        (2, [1, 2, 3, 4], 18),
        (3, [5, 6, 7, 8], 18),
        (4, [1, 2], 18),
        (5, [3, 4], 18),
        (6, [5, 6], 18),
        (7, [7, 8], 18),
    ] + _singles(8, range(1, 9)),
}

#: Fabric Manager FABRIC_MODE values (fabricmanager.cfg).
FABRIC_MODES = {0: "bare metal / full passthrough", 1: "shared NVSwitch", 2: "vGPU"}

_DGX_A100_BUS_IDS = ["00000000:07:00.0", "00000000:0F:00.0", "00000000:47:00.0", "00000000:4E:00.0",
                     "00000000:87:00.0", "00000000:90:00.0", "00000000:B7:00.0", "00000000:BD:00.0"]
_DGX_H100_BUS_IDS = ["00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0",
                     "00000000:9A:00.0", "00000000:AB:00.0", "00000000:BA:00.0", "00000000:DB:00.0"]
_DGX_B200_BUS_IDS = ["00000000:1B:00.0", "00000000:43:00.0", "00000000:52:00.0", "00000000:61:00.0",
                     "00000000:9D:00.0", "00000000:C3:00.0", "00000000:D1:00.0", "00000000:DF:00.0"]
_EIGHT = [1, 2, 3, 4, 5, 6, 7, 8]

# NVLink per-link line rates in MB/s: NVLink3/4 25 GB/s, NVLink5 50 GB/s per direction
# (inferred from the generations' published per-GPU bandwidth).
PRESETS = {
    "dgx-a100": {
        "description": "DGX A100: 8x A100-SXM4-40GB on one NVSwitch baseboard",
        "board": "A100-SXM4-40GB",
        "pci_bus_ids": _DGX_A100_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "a100-bottom-tray",
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": 25000,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["module_ids", "nvlink_line_rate_mbps", "driver_version"],
    },
    "dgx-a100-80gb": {
        "description": "DGX A100 640GB: 8x A100-SXM4-80GB on one NVSwitch baseboard",
        "board": "A100-SXM4-80GB",
        "pci_bus_ids": _DGX_A100_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "a100-bottom-tray",
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": 25000,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["module_ids", "nvlink_line_rate_mbps", "driver_version"],
    },
    "a100-passthrough-vm": {
        "description": "VM with 1x A100-SXM4-40GB in full passthrough (the hypervisor owns GPU reset)",
        "board": "A100-SXM4-40GB",
        "pci_bus_ids": ["00000000:00:05.0"],
        "module_ids": [1],
        "fabric": None,
        "virtualization_mode": "passthrough",
        "nvlink_line_rate_mbps": None,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["pci_bus_ids", "module_ids", "driver_version"],
    },
    "a30-x4": {
        "description": "PCIe server with 4x A30-24GB, no NVSwitch",
        "board": "A30-24GB",
        "pci_bus_ids": ["00000000:17:00.0", "00000000:65:00.0", "00000000:CA:00.0", "00000000:E3:00.0"],
        "module_ids": [1, 2, 3, 4],
        "fabric": None,
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": None,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["pci_bus_ids", "module_ids", "driver_version"],
    },
    "dgx-h100": {
        "description": "DGX H100: 8x H100-SXM5-80GB with NVSwitch",
        "board": "H100-SXM5-80GB",
        "pci_bus_ids": _DGX_H100_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "hopper-8gpu",
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": 25000,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["module_ids", "nvlink_line_rate_mbps", "driver_version"],
    },
    "h100-nvl-x2": {
        "description": "2x H100 NVL 94GB (PCIe, NVLink bridge, no NVSwitch), Azure-style PCI domains",
        "board": "H100-NVL-94GB",
        "pci_bus_ids": ["00000001:00:00.0", "00000002:00:00.0"],
        "module_ids": [1, 2],
        "fabric": None,
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": None,
        "driver_version": "560.35.03",
        "cuda_driver_version": 12060,
        "inferred": ["pci_bus_ids", "module_ids"],
    },
    "hgx-h200": {
        "description": "HGX H200: 8x H200-SXM-141GB with NVSwitch",
        "board": "H200-SXM-141GB",
        "pci_bus_ids": _DGX_H100_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "hopper-8gpu",
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": 25000,
        "driver_version": "580.159.04",
        "cuda_driver_version": 13000,
        "inferred": ["pci_bus_ids", "module_ids", "nvlink_line_rate_mbps"],
    },
    "h200-passthrough-vm": {
        "description": "VM with 1x H200-SXM-141GB in full passthrough, no NVSwitch visible (the real capture's machine)",
        "board": "H200-SXM-141GB",
        "pci_bus_ids": ["00000000:00:06.0"],
        "module_ids": [2],
        "fabric": None,
        "virtualization_mode": "passthrough",
        "nvlink_line_rate_mbps": None,
        "driver_version": "580.159.04",
        "cuda_driver_version": 13000,
        "inferred": [],
    },
    "hgx-h200-vgpu-host": {
        "description": "HGX H200 as a vGPU hypervisor: 8x H200-SXM-141GB with NVSwitch, vGPU manager loaded",
        "board": "H200-SXM-141GB",
        "pci_bus_ids": _DGX_H100_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "hopper-8gpu",
        "virtualization_mode": "vgpu_host",
        "nvlink_line_rate_mbps": 25000,
        "driver_version": "580.159.04",
        "cuda_driver_version": 13000,
        "inferred": ["pci_bus_ids", "module_ids", "nvlink_line_rate_mbps"],
    },
    "gh200": {
        "description": "Grace Hopper GH200 node: 1x H100 96GB",
        "board": "GH200-96GB",
        "pci_bus_ids": ["00000009:01:00.0"],
        "module_ids": [1],
        "fabric": None,
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": None,
        "driver_version": "570.172.08",
        "cuda_driver_version": 12080,
        "inferred": ["pci_bus_ids", "module_ids", "driver_version"],
    },
    "dgx-b200": {
        "description": "DGX B200: 8x B200 with NVSwitch",
        "board": "B200",
        "pci_bus_ids": _DGX_B200_BUS_IDS,
        "module_ids": _EIGHT,
        "fabric": "blackwell-8gpu",
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": 50000,
        "driver_version": "580.105.06",
        "cuda_driver_version": 13000,
        "inferred": ["pci_bus_ids", "module_ids", "nvlink_line_rate_mbps", "driver_version"],
    },
    "rtx-pro-6000-x4": {
        "description": "PCIe server with 4x RTX PRO 6000 Blackwell Server Edition, no NVSwitch",
        "board": "RTX-PRO-6000-BSE",
        "pci_bus_ids": ["00000000:01:00.0", "00000000:21:00.0", "00000000:41:00.0", "00000000:61:00.0"],
        "module_ids": [1, 2, 3, 4],
        "fabric": None,
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": None,
        "driver_version": "580.105.06",
        "cuda_driver_version": 13000,
        "inferred": ["pci_bus_ids", "module_ids"],
    },
}

# Systems for the boards added for mig-parted's published default config (one per PCI
# device id it names). PCI bus ids, module ids and driver versions are plausible (inferred);
# 8-GPU SXM systems get their family's NVSwitch partition table (inferred for A800, H800,
# H20 and B300), the GB200/GB300 hosts model one 4-GPU compute tray (the rack's NVLink
# switch trays and their Fabric Manager are not modelled).
_PCIE_X4_BUS_IDS = ["00000000:17:00.0", "00000000:65:00.0", "00000000:CA:00.0", "00000000:E3:00.0"]
_PCIE_X2_BUS_IDS = ["00000000:3B:00.0", "00000000:D8:00.0"]
_GRACE_X4_BUS_IDS = ["00000008:01:00.0", "00000009:01:00.0", "00000018:01:00.0", "00000019:01:00.0"]
_INFERRED_LAYOUT = ["pci_bus_ids", "module_ids", "driver_version"]


def _system(description, board, pci_bus_ids, fabric=None, nvlink_line_rate_mbps=None,
            driver_version="570.172.08", cuda_driver_version=12080):
    inferred = list(_INFERRED_LAYOUT) + (["nvlink_line_rate_mbps"] if nvlink_line_rate_mbps else [])
    return {
        "description": description,
        "board": board,
        "pci_bus_ids": list(pci_bus_ids),
        "module_ids": list(range(1, len(pci_bus_ids) + 1)),
        "fabric": fabric,
        "virtualization_mode": "none",
        "nvlink_line_rate_mbps": nvlink_line_rate_mbps,
        "driver_version": driver_version,
        "cuda_driver_version": cuda_driver_version,
        "inferred": inferred,
    }


_BLACKWELL_DRIVER = dict(driver_version="580.105.06", cuda_driver_version=13000)

PRESETS.update({
    "a100-pcie-x4": _system("PCIe server with 4x A100-PCIE-40GB (0x20F1), no NVSwitch", "A100-PCIE-40GB", _PCIE_X4_BUS_IDS),
    "a100-pcie-20b1-x2": _system("PCIe server with 2x A100-PCIE-40GB of PCI id 0x20B1, no NVSwitch",
                                 "A100-PCIE-40GB-20B1", _PCIE_X2_BUS_IDS),
    "a800-pcie-40gb-x4": _system("PCIe server with 4x A800 40GB PCIe, no NVSwitch", "A800-PCIE-40GB", _PCIE_X4_BUS_IDS),
    "a100-pcie-80gb-x4": _system("PCIe server with 4x A100 80GB PCIe, no NVSwitch", "A100-PCIE-80GB", _PCIE_X4_BUS_IDS),
    "hgx-a800": _system("HGX A800: 8x A800-SXM4-80GB on one NVSwitch baseboard", "A800-SXM4-80GB", _DGX_A100_BUS_IDS,
                        fabric="a100-bottom-tray", nvlink_line_rate_mbps=25000),
    "a800-pcie-80gb-x4": _system("PCIe server with 4x A800 80GB PCIe, no NVSwitch", "A800-PCIE-80GB", _PCIE_X4_BUS_IDS),
    "pg506-96gb-x4": _system("Server with 4x PG506-232 (GA100, 96GB profiles), no NVSwitch", "PG506-96GB", _PCIE_X4_BUS_IDS),
    "h100-pcie-x4": _system("PCIe server with 4x H100 PCIe 80GB, no NVSwitch", "H100-PCIE-80GB", _PCIE_X4_BUS_IDS),
    "h800-pcie-x4": _system("PCIe server with 4x H800 PCIe 80GB, no NVSwitch", "H800-PCIE-80GB", _PCIE_X4_BUS_IDS),
    "hgx-h800": _system("HGX H800: 8x H800 SXM5 80GB with NVSwitch", "H800-SXM5-80GB", _DGX_H100_BUS_IDS,
                        fabric="hopper-8gpu", nvlink_line_rate_mbps=25000),
    "h800-nvl-x2": _system("2x H800 NVL 94GB (PCIe, NVLink bridge, no NVSwitch)", "H800-NVL-94GB", _PCIE_X2_BUS_IDS),
    "h100-96gb-x4": _system("Server with 4x H100 96GB, no NVSwitch", "H100-96GB", _PCIE_X4_BUS_IDS),
    "h20-x8": _system("HGX H20: 8x H20 96GB with NVSwitch", "H20", _DGX_H100_BUS_IDS,
                      fabric="hopper-8gpu", nvlink_line_rate_mbps=25000),
    "h200-nvl-x4": _system("PCIe server with 4x H200 NVL 141GB, no NVSwitch", "H200-NVL-141GB", _PCIE_X4_BUS_IDS),
    "gh200-144g": _system("Grace Hopper GH200 144G HBM3e node: 1x H100 144GB", "GH200-144GB", ["00000009:01:00.0"]),
    "gb200-nvl4": _system("GB200 compute tray: 4x GB200 (2 Grace CPUs), rack NVLink not modelled", "GB200",
                          _GRACE_X4_BUS_IDS, **_BLACKWELL_DRIVER),
    "gb200-nvl4-early-driver": _system(
        "GB200 compute tray on an early driver that names the profiles 1g.24gb ... 7g.189gb", "GB200-EARLY-DRIVER",
        _GRACE_X4_BUS_IDS, driver_version="570.124.06", cuda_driver_version=12080),
    "b300-x8": _system("HGX B300: 8x B300 SXM6 with NVSwitch", "B300", _DGX_B200_BUS_IDS,
                       fabric="blackwell-8gpu", nvlink_line_rate_mbps=50000, **_BLACKWELL_DRIVER),
    "gb300-nvl4": _system("GB300 compute tray: 4x GB300, rack NVLink not modelled", "GB300", _GRACE_X4_BUS_IDS,
                          **_BLACKWELL_DRIVER),
})

#: Virtualization modes in which the guest cannot reset its GPUs (the hypervisor owns it).
_GUEST_MODES = ("passthrough", "vgpu_guest")


def reset_supported_by_default(virtualization_mode):
    """Whether GPUs that report ``virtualization_mode`` can be reset (not from inside a guest)."""
    return virtualization_mode not in _GUEST_MODES

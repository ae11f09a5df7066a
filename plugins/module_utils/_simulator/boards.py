# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MIG-capable boards the simulator can model: data transcribed from
docs/reference mig-profiles.md (section numbers below refer to it).

Every board is a plain dict (``BOARDS[name]``). Values the reference marks inferred,
``?`` or unknown were filled with a consistent, documented choice and the field name is
listed in the ``inferred`` list of the dict that holds it (board, GPU-instance profile or
compute-instance profile). Nothing in the simulator's logic depends on an inferred value
being right: change the data, not the code.

GPU-instance profile fields (one dict per profile, in the order the enums are listed):
  enum, id, name (without "MIG "), slices, instances, memory_mb, sm, ce, dec, enc, jpeg,
  ofa, placements [[start, size], ...] in memory-slot units of the board's grid (as
  ``nvidia-smi mig -lgipp`` prints them), default_order (starts tried, in order, when no
  placement is given), gi_ids (driver-assigned GPU-instance id for each placement, parallel
  to placements), compute_profiles, inferred.
Compute-instance profile fields: id (= the NVML_COMPUTE_INSTANCE_PROFILE_* enum), name,
  slices, instances, sm, placements [[start, size], ...] in compute slices, default
  (the CI ``nvidia-smi mig -cgi ... -C`` creates), inferred.

Memory sizes are MiB values whose ``/1024`` prints the reference's GiB column; board totals
are chosen so go-nvlib's name derivation (reference section 6) yields the reference names.
Profile memory is driver dependent (reference, "Memory sizes are driver dependent"): each
board's column comes from one driver's real listing, and the presets using the board report
that driver where it is known. H200 follows the real capture (driver 580.159.04,
reference/captures/h200-580.159.04): 256 MiB more on the 2-, 4- and 8-slot profiles than the
older listing the reference transcribed. The other boards keep their sourced columns
(H100 SXM5/NVL and GH200 real listings; A30, B200 3g/4g/7g and RTX PRO 6000 2g/4g marked
inferred); no capture of those boards contradicts them. ``memory_reserved_bytes`` (what
nvmlDeviceGetMemoryInfo_v2 reports as reserved, and v1 counts as used) is known for H200
only; the other boards answer 0 (unknown, not a measurement).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# NVML_DEVICE_ARCH_* (reference 1.3)
ARCH_AMPERE = 7
ARCH_HOPPER = 9
ARCH_BLACKWELL = 10

# NVML_GPU_INSTANCE_PROFILE_* enums (reference 1.1)
GI_1_SLICE = 0x0
GI_2_SLICE = 0x1
GI_3_SLICE = 0x2
GI_4_SLICE = 0x3
GI_7_SLICE = 0x4
GI_1_SLICE_REV1 = 0x7
GI_2_SLICE_REV1 = 0x8
GI_1_SLICE_REV2 = 0x9
GI_1_SLICE_GFX = 0xA
GI_2_SLICE_GFX = 0xB
GI_4_SLICE_GFX = 0xC
GI_1_SLICE_NO_ME = 0xD
GI_2_SLICE_NO_ME = 0xE
GI_1_SLICE_ALL_ME = 0xF
GI_2_SLICE_ALL_ME = 0x10
# Enums the driver knows: from 0x11 on, driver 580.159.04 answers INVALID_ARGUMENT (real
# capture; pynvml 13's NVML_GPU_INSTANCE_PROFILE_COUNT is already 0x12).
GI_PROFILE_COUNT = 0x11

# NVML_COMPUTE_INSTANCE_PROFILE_* enums (reference 1.2); the CI profile id equals the enum.
CI_PROFILE_BY_SLICES = {1: 0x0, 2: 0x1, 3: 0x2, 4: 0x3, 7: 0x4}
CI_1_SLICE_REV1 = 0x7
CI_PROFILE_COUNT = 0x9

# Placement geometry shared by every board with the same memory-slot grid.
#   placements: reference section 4 (8-slot, verified on A100/H100/H100 NVL), 3.3 (A30),
#   3.12 (RTX PRO 6000, 12-unit grid).
#   default_order: reference 4.1 (observed: 1g 6,4,5,0,1,2,3; 2-slot first at 4; REV2
#   4,0,2,6 on GH200; 3g 0 then 4). The 2g order after its first slot, and every order on
#   the 4-slice boards, is not documented: (inferred) listed order resp. REV2's order.
#   gi_ids: reference 4.2 common pattern (7g 0, 4g 1, 3g at 0 -> 2 and at 4 -> 1, 2-slot at
#   0/2/4/6 -> 3/4/5/6, 1g at s -> 7+s; RTX PRO 6000 observed 2g 0 -> 1, 6 -> 2, 1g
#   0/3/6/9 -> 3/4/5/6). A30 ids are (inferred) by analogy with the other 4-slice board.
#   The simulator falls back to the lowest free id when the preferred one is taken (4g at
#   0 and 3g at 4 both prefer 1).
_GEOMETRY_8_SLOT = {
    "1g": {"placements": [[s, 1] for s in range(7)], "default_order": [6, 4, 5, 0, 1, 2, 3],
           "gi_ids": [7 + s for s in range(7)], "inferred": []},
    "1g-rev2": {"placements": [[0, 2], [2, 2], [4, 2], [6, 2]], "default_order": [4, 0, 2, 6],
                "gi_ids": [3, 4, 5, 6], "inferred": []},
    "2g": {"placements": [[0, 2], [2, 2], [4, 2]], "default_order": [4, 0, 2],
           "gi_ids": [3, 4, 5], "inferred": ["default_order"]},
    "3g": {"placements": [[0, 4], [4, 4]], "default_order": [0, 4], "gi_ids": [2, 1], "inferred": []},
    "4g": {"placements": [[0, 4]], "default_order": [0], "gi_ids": [1], "inferred": []},
    "7g": {"placements": [[0, 8]], "default_order": [0], "gi_ids": [0], "inferred": []},
}
_GEOMETRY_A30 = {
    "1g": {"placements": [[s, 1] for s in range(4)], "default_order": [0, 1, 2, 3],
           "gi_ids": [3, 4, 5, 6], "inferred": ["default_order", "gi_ids"]},
    "2g": {"placements": [[0, 2], [2, 2]], "default_order": [0, 2], "gi_ids": [1, 2],
           "inferred": ["default_order", "gi_ids"]},
    "4g": {"placements": [[0, 4]], "default_order": [0], "gi_ids": [0], "inferred": ["gi_ids"]},
}
_GEOMETRY_RTX_PRO = {
    "1g": {"placements": [[0, 3], [3, 3], [6, 3], [9, 3]], "default_order": [0, 3, 6, 9],
           "gi_ids": [3, 4, 5, 6], "inferred": ["default_order"]},
    "2g": {"placements": [[0, 6], [6, 6]], "default_order": [0, 6], "gi_ids": [1, 2],
           "inferred": ["default_order"]},
    "4g": {"placements": [[0, 12]], "default_order": [0], "gi_ids": [0], "inferred": ["gi_ids"]},
}

# Compute-instance placements per (GI slices, CI slices). Reference section 5: no source
# prints -lcipp; these are the go-nvml mock's lists (mock, therefore inferred). Which CI
# sizes exist per GI size follows go-nvlib's heuristic (C <= G, drop C < G with 2C > G+1).
_CI_PLACEMENTS = {
    (1, 1): [[0, 1]],
    (2, 1): [[0, 1], [1, 1]],
    (2, 2): [[0, 2]],
    (3, 1): [[0, 1], [1, 1], [2, 1]],
    (3, 2): [[0, 2]],
    (3, 3): [[0, 3]],
    (4, 1): [[0, 1], [1, 1], [2, 1], [3, 1]],
    (4, 2): [[0, 2], [2, 2]],
    (4, 4): [[0, 4]],
    (7, 1): [[s, 1] for s in range(7)],
    (7, 2): [[0, 2], [2, 2], [4, 2]],
    (7, 3): [[0, 3], [4, 3]],
    (7, 4): [[0, 4]],
    (7, 7): [[0, 7]],
}

_NAME_SUFFIXES = ("+me.all", "+me", "+gfx", "-me")


def _base_name(gi_name):
    """'1g.24gb+me.all' -> '1g.24gb': compute-instance names drop the GI's engine suffix
    (reference 5: the CI of a 1g.10gb+me GI is 'MIG 1g.10gb')."""
    for suffix in _NAME_SUFFIXES:
        if gi_name.endswith(suffix):
            return gi_name[: -len(suffix)]
    return gi_name


def _compute_profiles(gi_name, gi_slices, gi_sm, rev1_default, sm_observed):
    """CI profiles of one GI profile. rev1_default: the GI is a 1g double-memory (REV2)
    profile on Hopper or later, whose only (and default) CI is 1_SLICE_REV1, id 7
    (reference 5, observed on H100 and GH200; whether id 0 is offered too is unknown, we
    offer only id 7)."""
    base = _base_name(gi_name)
    if rev1_default:
        return [{"id": CI_1_SLICE_REV1, "name": base, "slices": 1, "instances": 1, "sm": gi_sm,
                 "placements": [[0, 1]], "default": True, "inferred": ["placements"]}]
    profiles = []
    for slices in sorted(CI_PROFILE_BY_SLICES):
        if (gi_slices, slices) not in _CI_PLACEMENTS:
            continue
        placements = _CI_PLACEMENTS[(gi_slices, slices)]
        inferred = ["placements"]
        if not sm_observed:
            inferred.append("sm")
        if slices == gi_slices == 7:
            inferred.append("id")  # 7g full CI = 4 is (inferred), reference 1.2
        profiles.append({
            "id": CI_PROFILE_BY_SLICES[slices],
            "name": base if slices == gi_slices else "%dc.%s" % (slices, base),
            "slices": slices,
            "instances": len(placements),
            "sm": gi_sm * slices // gi_slices,
            "placements": placements,
            "default": slices == gi_slices,
            "inferred": inferred,
        })
    return profiles


def _profiles(architecture, geometry, rows, inferred_by_name=None, ci_sm_observed=False):
    """Build GPU-instance profiles from reference table rows:
    (enum, id, name, geometry key, instances, memory_mb, sm, ce, dec, enc, jpeg, ofa)."""
    inferred_by_name = inferred_by_name or {}
    profiles = []
    for enum, profile_id, name, shape, instances, memory_mb, sm, ce, dec, enc, jpeg, ofa in rows:
        layout = geometry[shape]
        slices = int(name.split("g.", 1)[0])
        inferred = list(inferred_by_name.get(name, ())) + list(layout["inferred"])
        profiles.append({
            "enum": enum,
            "id": profile_id,
            "name": name,
            "slices": slices,
            "instances": instances,
            "memory_mb": memory_mb,
            "sm": sm,
            "ce": ce,
            "dec": dec,
            "enc": enc,
            "jpeg": jpeg,
            "ofa": ofa,
            "placements": [list(p) for p in layout["placements"]],
            "default_order": list(layout["default_order"]),
            "gi_ids": list(layout["gi_ids"]),
            "compute_profiles": _compute_profiles(
                name, slices, sm,
                rev1_default=(enum == GI_1_SLICE_REV2 and architecture >= ARCH_HOPPER),
                sm_observed=ci_sm_observed),
            "inferred": inferred,
        })
    return profiles


# Hopper-class boards share ids, enums, engines and placements (reference 3.4-3.9); the
# memory column differs per board: (REV0 1g, REV2 1g / 2g, 3g / 4g, 7g) in MiB.
def _hopper_rows(names, memory):
    one, rev2, half, full = memory
    n1, n1me, n1rev2, n2, n3, n4, n7 = names
    return [
        (GI_1_SLICE, 19, n1, "1g", 7, one, 16, 1, 1, 0, 1, 0),
        (GI_1_SLICE_REV1, 20, n1me, "1g", 1, one, 16, 1, 1, 0, 1, 1),
        (GI_1_SLICE_REV2, 15, n1rev2, "1g-rev2", 4, rev2, 26, 1, 1, 0, 1, 0),
        (GI_2_SLICE, 14, n2, "2g", 3, rev2, 32, 2, 2, 0, 2, 0),
        (GI_3_SLICE, 9, n3, "3g", 2, half, 60, 3, 3, 0, 3, 0),
        (GI_4_SLICE, 5, n4, "4g", 1, half, 64, 4, 4, 0, 4, 0),
        (GI_7_SLICE, 0, n7, "7g", 1, full, 132, 8, 7, 0, 7, 1),
    ]


def _ampere_rows(names, memory):
    one, rev2, half, full = memory
    n1, n1me, n1rev2, n2, n3, n4, n7 = names
    return [
        (GI_1_SLICE, 19, n1, "1g", 7, one, 14, 1, 0, 0, 0, 0),
        (GI_1_SLICE_REV1, 20, n1me, "1g", 1, one, 14, 1, 1, 0, 1, 1),
        (GI_1_SLICE_REV2, 15, n1rev2, "1g-rev2", 4, rev2, 14, 1, 1, 0, 0, 0),
        (GI_2_SLICE, 14, n2, "2g", 3, rev2, 28, 2, 1, 0, 0, 0),
        (GI_3_SLICE, 9, n3, "3g", 2, half, 42, 3, 2, 0, 0, 0),
        (GI_4_SLICE, 5, n4, "4g", 1, half, 56, 4, 2, 0, 0, 0),
        (GI_7_SLICE, 0, n7, "7g", 1, full, 98, 7, 5, 0, 1, 1),
    ]


def _inferred_for(names, fields):
    return dict((name, tuple(fields)) for name in names)


_A100_80_NAMES = ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_GH200_NAMES = ("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb")
_H200_NAMES = ("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")
_B200_NAMES = ("1g.23gb", "1g.23gb+me", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb")

BOARDS = {
    # reference 3.1; placements from the MIG guide; total 40960 MiB (qx-a100.xml, section 8)
    "A100-SXM4-40GB": {
        "name": "NVIDIA A100-SXM4-40GB",
        "pci_device_id": 0x20B010DE,
        "pci_subsystem_id": 0x134F10DE,
        "architecture": ARCH_AMPERE,
        "memory_total_mb": 40960,
        "multiprocessor_count": 108,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(
            ARCH_AMPERE, _GEOMETRY_8_SLOT,
            _ampere_rows(("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"),
                         (4864, 9856, 19968, 40192)),
            ci_sm_observed=True),
        "inferred": ["pci_subsystem_id", "multiprocessor_count"],
    },
    # reference 3.2: placements (inferred) identical to the 40GB board; total 81920 MiB
    "A100-SXM4-80GB": {
        "name": "NVIDIA A100-SXM4-80GB",
        "pci_device_id": 0x20B210DE,
        "pci_subsystem_id": 0x147F10DE,
        "architecture": ARCH_AMPERE,
        "memory_total_mb": 81920,
        "multiprocessor_count": 108,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(
            ARCH_AMPERE, _GEOMETRY_8_SLOT, _ampere_rows(_A100_80_NAMES, (9728, 19968, 40192, 80896)),
            inferred_by_name=_inferred_for(_A100_80_NAMES, ["placements"]), ci_sm_observed=True),
        "inferred": ["pci_subsystem_id", "multiprocessor_count"],
    },
    # reference 3.3 (4 slices). MiB for 5.81/11.69/23.44 GiB and the board total are
    # (inferred); the 1g.6gb decoder count follows the real lgip (1), not the docs (0).
    "A30-24GB": {
        "name": "NVIDIA A30",
        "pci_device_id": 0x20B710DE,
        "pci_subsystem_id": 0x153210DE,
        "architecture": ARCH_AMPERE,
        "memory_total_mb": 24576,
        "multiprocessor_count": 56,
        "memory_slots": 4,
        "max_mig_devices": 4,
        "gpu_instance_profiles": _profiles(ARCH_AMPERE, _GEOMETRY_A30, [
            (GI_1_SLICE, 14, "1g.6gb", "1g", 4, 5952, 14, 1, 1, 0, 0, 0),
            (GI_1_SLICE_REV1, 21, "1g.6gb+me", "1g", 1, 5952, 14, 1, 1, 0, 1, 1),
            (GI_2_SLICE, 5, "2g.12gb", "2g", 2, 11968, 28, 2, 2, 0, 0, 0),
            (GI_2_SLICE_REV1, 6, "2g.12gb+me", "2g", 1, 11968, 28, 2, 2, 0, 1, 1),
            (GI_4_SLICE, 0, "4g.24gb", "4g", 1, 24000, 56, 4, 4, 0, 1, 1),
        ], inferred_by_name=dict(_inferred_for(("1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"),
                                               ["memory_mb", "enum"])), ci_sm_observed=True),
        "inferred": ["pci_subsystem_id", "memory_total_mb", "name"],
    },
    # reference 3.4; board total 81559 MiB
    "H100-SXM5-80GB": {
        "name": "NVIDIA H100 80GB HBM3",
        "pci_device_id": 0x233010DE,
        "pci_subsystem_id": 0x16C110DE,
        "architecture": ARCH_HOPPER,
        "memory_total_mb": 81559,
        "multiprocessor_count": 132,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(ARCH_HOPPER, _GEOMETRY_8_SLOT, _hopper_rows(
            ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"),
            (9984, 20096, 40448, 81152))),
        "inferred": ["pci_subsystem_id"],
    },
    # reference 3.6; 7g 93.12 GiB = 95360 MiB (inferred exact MiB); board total 95830 MiB
    "H100-NVL-94GB": {
        "name": "NVIDIA H100 NVL",
        "pci_device_id": 0x232110DE,
        "pci_subsystem_id": 0x183910DE,
        "architecture": ARCH_HOPPER,
        "memory_total_mb": 95830,
        "multiprocessor_count": 132,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(ARCH_HOPPER, _GEOMETRY_8_SLOT, _hopper_rows(
            ("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb"),
            (11008, 22144, 47488, 95360)), inferred_by_name={"7g.94gb": ("memory_mb",)}),
        "inferred": ["pci_subsystem_id"],
    },
    # reference 3.7 (H100 96GB on GH200, 0x2342); placements (inferred) as 3.4;
    # board total (inferred) chosen so derived names match.
    "GH200-96GB": {
        "name": "NVIDIA GH200 480GB",
        "pci_device_id": 0x234210DE,
        "pci_subsystem_id": 0x16CA10DE,
        "architecture": ARCH_HOPPER,
        "memory_total_mb": 97871,
        "multiprocessor_count": 132,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(ARCH_HOPPER, _GEOMETRY_8_SLOT, _hopper_rows(
            _GH200_NAMES, (11264, 23552, 47616, 95232)),
            inferred_by_name=_inferred_for(_GH200_NAMES, ["placements"])),
        "inferred": ["pci_subsystem_id", "memory_total_mb", "name"],
    },
    # reference 3.8 and the real capture captures/h200-580.159.04 (driver 580.159.04, MIG
    # disabled): profile memory, placements (-lgipp), PCI sub-system id, board total and
    # reserved memory are what that H200 answered. The reference's 32.25/69.50/139.75 GiB
    # column is an older driver's (mig-parted issue #120).
    "H200-SXM-141GB": {
        "name": "NVIDIA H200",
        "pci_device_id": 0x233510DE,
        "pci_subsystem_id": 0x18BF10DE,
        "architecture": ARCH_HOPPER,
        "memory_total_mb": 143771,
        "memory_reserved_bytes": 644939776,
        "multiprocessor_count": 132,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(ARCH_HOPPER, _GEOMETRY_8_SLOT, _hopper_rows(
            _H200_NAMES, (16384, 33280, 71424, 143360))),
        "inferred": [],
    },
    # reference 3.10: rows 1-4 real (22.00 GiB driver); 3g/4g/7g memory, SM and
    # decoder/JPEG counts (inferred, Hopper pattern); CE from the docs column, 2g CE 4 from
    # lgip; ids 9/5/0 (inferred). 4g.90gb only exists on drivers from Mar 2025 on.
    "B200": {
        "name": "NVIDIA B200",
        "pci_device_id": 0x290110DE,
        "pci_subsystem_id": 0x199910DE,
        "architecture": ARCH_BLACKWELL,
        "memory_total_mb": 183359,
        "multiprocessor_count": 148,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(ARCH_BLACKWELL, _GEOMETRY_8_SLOT, [
            (GI_1_SLICE, 19, "1g.23gb", "1g", 7, 22528, 18, 2, 1, 0, 1, 0),
            (GI_1_SLICE_REV1, 20, "1g.23gb+me", "1g", 1, 22528, 18, 2, 1, 0, 1, 1),
            (GI_1_SLICE_REV2, 15, "1g.45gb", "1g-rev2", 4, 45312, 30, 2, 1, 0, 1, 0),
            (GI_2_SLICE, 14, "2g.45gb", "2g", 3, 45312, 36, 4, 2, 0, 2, 0),
            (GI_3_SLICE, 9, "3g.90gb", "3g", 2, 90880, 66, 6, 3, 0, 3, 0),
            (GI_4_SLICE, 5, "4g.90gb", "4g", 1, 90880, 72, 8, 4, 0, 4, 0),
            (GI_7_SLICE, 0, "7g.180gb", "7g", 1, 182016, 148, 16, 7, 0, 7, 1),
        ], inferred_by_name=dict(
            _inferred_for(_B200_NAMES[:4], ["placements"]),
            **_inferred_for(_B200_NAMES[4:], ["placements", "id", "memory_mb", "sm", "dec", "jpeg"]))),
        "inferred": ["pci_subsystem_id", "multiprocessor_count"],
    },
    # reference 3.12: 4 slices on a 12-unit placement grid; enums (inferred) from go-nvlib's
    # suffix rules; board total 97887 MiB; 1g = 24192 MiB as CUDA reports, 2g/4g MiB
    # (inferred) from 47.38/95.12 GiB.
    "RTX-PRO-6000-BSE": {
        "name": "NVIDIA RTX PRO 6000 Blackwell Server Edition",
        "pci_device_id": 0x2BB510DE,
        "pci_subsystem_id": 0x204E10DE,
        "architecture": ARCH_BLACKWELL,
        "memory_total_mb": 97887,
        "multiprocessor_count": 188,
        "memory_slots": 12,
        "max_mig_devices": 4,
        "gpu_instance_profiles": _profiles(ARCH_BLACKWELL, _GEOMETRY_RTX_PRO, [
            (GI_1_SLICE, 14, "1g.24gb", "1g", 4, 24192, 46, 1, 1, 1, 1, 0),
            (GI_1_SLICE_REV1, 21, "1g.24gb+me", "1g", 1, 24192, 46, 1, 1, 1, 1, 1),
            (GI_1_SLICE_GFX, 47, "1g.24gb+gfx", "1g", 4, 24192, 46, 1, 1, 1, 1, 0),
            (GI_1_SLICE_ALL_ME, 65, "1g.24gb+me.all", "1g", 1, 24192, 46, 1, 4, 4, 4, 1),
            (GI_1_SLICE_NO_ME, 67, "1g.24gb-me", "1g", 4, 24192, 46, 1, 0, 0, 0, 0),
            (GI_2_SLICE, 5, "2g.48gb", "2g", 2, 48512, 94, 2, 2, 2, 2, 0),
            (GI_2_SLICE_GFX, 35, "2g.48gb+gfx", "2g", 2, 48512, 94, 2, 2, 2, 2, 0),
            (GI_2_SLICE_ALL_ME, 64, "2g.48gb+me.all", "2g", 1, 48512, 94, 2, 4, 4, 4, 1),
            (GI_2_SLICE_NO_ME, 66, "2g.48gb-me", "2g", 2, 48512, 94, 2, 0, 0, 0, 0),
            (GI_4_SLICE, 0, "4g.96gb", "4g", 1, 97408, 188, 4, 4, 4, 4, 1),
            (GI_4_SLICE_GFX, 32, "4g.96gb+gfx", "4g", 1, 97408, 188, 4, 4, 4, 4, 1),
        ], inferred_by_name=dict(
            _inferred_for(("2g.48gb", "2g.48gb+gfx", "2g.48gb+me.all", "2g.48gb-me",
                           "4g.96gb", "4g.96gb+gfx"), ["enum", "memory_mb"]),
            **_inferred_for(("1g.24gb", "1g.24gb+me", "1g.24gb+gfx", "1g.24gb+me.all", "1g.24gb-me"),
                            ["enum"]))),
        "inferred": ["pci_subsystem_id"],
    },
}


# ---------------------------------------------------------------------------------------
# Boards for every PCI device id that mig-parted's deployments/systemd/config-default.yaml
# names (reference section 8), so that each of its configs can be applied to a simulated
# host. Profile names and counts come from that file (sections 3.13 and 9), memory from
# the reference where a real lgip exists. The rest follows the family's measured board
# (Ampere 3.1, Hopper 3.4/3.5, Blackwell 3.10/3.11) and is listed in "inferred":
# placements, engines and SM counts, memory MiB and board totals chosen so that go-nvlib's
# name derivation (section 6) yields the config's names, NVML names and subsystem ids.

_A100_40_NAMES = ("1g.5gb", "1g.5gb+me", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_H100_80_NAMES = ("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")
_H100_NVL_NAMES = ("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb")
_GH200_144G_NAMES = ("1g.18gb", "1g.18gb+me", "1g.36gb", "2g.36gb", "3g.72gb", "4g.72gb", "7g.144gb")
_GB200_NAMES = ("1g.23gb", "1g.23gb+me", "1g.47gb", "2g.47gb", "3g.93gb", "4g.93gb", "7g.186gb")
# GB200 names on early drivers (mig-parted 89dd81a3, before ebab1f77; reference 3.11)
_GB200_EARLY_NAMES = ("1g.24gb", "1g.24gb+me", "1g.47gb", "2g.47gb", "3g.95gb", "4g.95gb", "7g.189gb")
_B300_NAMES = ("1g.34gb", "1g.34gb+me", "1g.67gb", "2g.67gb", "3g.135gb", "4g.135gb", "7g.269gb")
_GB300_NAMES = ("1g.35gb", "1g.35gb+me", "1g.70gb", "2g.70gb", "3g.139gb", "4g.139gb", "7g.278gb")

#: Memory (1g, REV2 1g and 2g, 3g and 4g, 7g) MiB per profile-name family.
_A100_40_MEMORY = (4864, 9856, 19968, 40192)
_A100_80_MEMORY = (9728, 19968, 40192, 80896)
_H100_80_MEMORY = (9984, 20096, 40448, 81152)
_H100_NVL_MEMORY = (11008, 22144, 47488, 95360)
_H100_96_MEMORY = (11264, 23552, 47616, 95232)
_H200_MEMORY = (16384, 33024, 71168, 143104)


def _blackwell_rows(names, memory, sm):
    """B200-family rows (3.10): memory (1g, REV2 1g and 2g, 3g and 4g, 7g) MiB; SM counts
    (1g, REV2 1g, 2g, 3g, 4g, 7g); copy engines 2/2/2/4/6/8/16 and the Hopper pattern of
    decoders and JPEG engines."""
    one, rev2, half, full = memory
    sm1, sm1rev2, sm2, sm3, sm4, sm7 = sm
    n1, n1me, n1rev2, n2, n3, n4, n7 = names
    return [
        (GI_1_SLICE, 19, n1, "1g", 7, one, sm1, 2, 1, 0, 1, 0),
        (GI_1_SLICE_REV1, 20, n1me, "1g", 1, one, sm1, 2, 1, 0, 1, 1),
        (GI_1_SLICE_REV2, 15, n1rev2, "1g-rev2", 4, rev2, sm1rev2, 2, 1, 0, 1, 0),
        (GI_2_SLICE, 14, n2, "2g", 3, rev2, sm2, 4, 2, 0, 2, 0),
        (GI_3_SLICE, 9, n3, "3g", 2, half, sm3, 6, 3, 0, 3, 0),
        (GI_4_SLICE, 5, n4, "4g", 1, half, sm4, 8, 4, 0, 4, 0),
        (GI_7_SLICE, 0, n7, "7g", 1, full, sm7, 16, 7, 0, 7, 1),
    ]


def _h100_pcie_rows(names, memory):
    """H100 PCIe (3.5): the SXM5 board's ids, engines and placements, its own SM counts."""
    sm_counts = (14, 14, 14, 30, 46, 62, 114)
    return [row[:6] + (sm,) + row[7:] for row, sm in zip(_hopper_rows(names, memory), sm_counts)]


def _board(name, pci_device_id, pci_subsystem_id, architecture, memory_total_mb, multiprocessor_count, rows,
           inferred_profile_fields, inferred, ci_sm_observed=False):
    """An 8-slot board of a known family; ``inferred_profile_fields`` apply to every profile."""
    names = [row[2] for row in rows]
    return {
        "name": name,
        "pci_device_id": pci_device_id,
        "pci_subsystem_id": pci_subsystem_id,
        "architecture": architecture,
        "memory_total_mb": memory_total_mb,
        "multiprocessor_count": multiprocessor_count,
        "memory_slots": 8,
        "max_mig_devices": 7,
        "gpu_instance_profiles": _profiles(
            architecture, _GEOMETRY_8_SLOT, rows,
            inferred_by_name=_inferred_for(names, ["placements"] + list(inferred_profile_fields)),
            ci_sm_observed=ci_sm_observed),
        "inferred": ["pci_subsystem_id"] + list(inferred),
    }


_AMPERE_SAME_AS = ("name", "memory_total_mb", "multiprocessor_count")


def _a100_variant(name, pci_device_id, pci_subsystem_id, gigabytes, inferred=_AMPERE_SAME_AS):
    """An A100/A800 of the 40GB or 80GB profile set (3.1 / 3.2) under another PCI id."""
    names, memory, total = {40: (_A100_40_NAMES, _A100_40_MEMORY, 40960),
                            80: (_A100_80_NAMES, _A100_80_MEMORY, 81920)}[gigabytes]
    return _board(name, pci_device_id, pci_subsystem_id, ARCH_AMPERE, total, 108, _ampere_rows(names, memory), [],
                  list(inferred), ci_sm_observed=True)


_HOPPER_SAME_AS = ["name", "memory_total_mb"]

BOARDS.update({
    # 0x20F1 / 0x20B1 A100 PCIe 40GB, 0x20F6 A800 40GB PCIe: A100-SXM4-40GB's profiles
    # (3.1: same profile set per [D1][S5])
    "A100-PCIE-40GB": _a100_variant("NVIDIA A100-PCIE-40GB", 0x20F110DE, 0x145F10DE, 40,
                                    inferred=["memory_total_mb", "multiprocessor_count"]),
    "A100-PCIE-40GB-20B1": _a100_variant("NVIDIA A100-PCIE-40GB", 0x20B110DE, 0x145F10DE, 40),
    "A800-PCIE-40GB": _a100_variant("NVIDIA A800 40GB PCIe", 0x20F610DE, 0x17A810DE, 40),
    # 0x20B5 A100 PCIe 80GB, 0x20F3 A800-SXM4-80GB, 0x20F5 A800 80GB PCIe: A100-SXM4-80GB's
    # profiles (3.2: "same names as SXM4-80GB")
    "A100-PCIE-80GB": _a100_variant("NVIDIA A100 80GB PCIe", 0x20B510DE, 0x153310DE, 80),
    "A800-SXM4-80GB": _a100_variant("NVIDIA A800-SXM4-80GB", 0x20F310DE, 0x17A210DE, 80),
    "A800-PCIE-80GB": _a100_variant("NVIDIA A800 80GB PCIe", 0x20F510DE, 0x17A910DE, 80),
    # 0x20B6 PG506-232, a GA100 module that mig-parted files with the 96GB Hopper boards
    # (section 8): the 96GB names on Ampere engines; memory as GH200-96GB
    "PG506-96GB": _board(
        "NVIDIA PG506-232", 0x20B610DE, 0x14A710DE, ARCH_AMPERE, 97871, 108,
        _ampere_rows(_GH200_NAMES, _H100_96_MEMORY), ["memory_mb", "sm", "ce", "dec", "jpeg", "ofa"],
        ["name", "memory_total_mb", "multiprocessor_count"], ci_sm_observed=False),
    # 0x2331 H100 PCIe (3.5, real lgip on driver 570.169; placements as 3.4)
    "H100-PCIE-80GB": _board(
        "NVIDIA H100 PCIe", 0x233110DE, 0x162610DE, ARCH_HOPPER, 81559, 114,
        _h100_pcie_rows(_H100_80_NAMES, _H100_80_MEMORY), [], ["memory_total_mb"]),
    # 0x2322 H800 PCIe, 0x2324 H800: the H100 PCIe and SXM5 boards under another id
    "H800-PCIE-80GB": _board(
        "NVIDIA H800 PCIe", 0x232210DE, 0x17A010DE, ARCH_HOPPER, 81559, 114,
        _h100_pcie_rows(_H100_80_NAMES, _H100_80_MEMORY), ["memory_mb", "sm"], _HOPPER_SAME_AS),
    "H800-SXM5-80GB": _board(
        "NVIDIA H800", 0x232410DE, 0x17A610DE, ARCH_HOPPER, 81559, 132,
        _hopper_rows(_H100_80_NAMES, _H100_80_MEMORY), ["memory_mb", "sm"], _HOPPER_SAME_AS),
    # 0x233A H800 NVL (H800L 94GB): the H100 NVL board (3.6) under another id
    "H800-NVL-94GB": _board(
        "NVIDIA H800 NVL", 0x233A10DE, 0x183A10DE, ARCH_HOPPER, 95830, 132,
        _hopper_rows(_H100_NVL_NAMES, _H100_NVL_MEMORY), ["memory_mb", "sm"], _HOPPER_SAME_AS),
    # 0x233D H100 96GB, 0x2329 H20: the H100-96GB profiles of 3.7 (shared mig-parted
    # filter); the H20's SM counts under MIG are not published (Hopper's kept)
    "H100-96GB": _board(
        "NVIDIA H100 96GB HBM3", 0x233D10DE, 0x16C210DE, ARCH_HOPPER, 97871, 132,
        _hopper_rows(_GH200_NAMES, _H100_96_MEMORY), [], _HOPPER_SAME_AS),
    "H20": _board(
        "NVIDIA H20", 0x232910DE, 0x18A810DE, ARCH_HOPPER, 97871, 132,
        _hopper_rows(_GH200_NAMES, _H100_96_MEMORY), ["sm"], ["memory_total_mb", "multiprocessor_count"]),
    # 0x233B H200 NVL: H200's profiles (3.8: mig-parted treats both alike)
    "H200-NVL-141GB": _board(
        "NVIDIA H200 NVL", 0x233B10DE, 0x18B510DE, ARCH_HOPPER, 143771, 132,
        _hopper_rows(_H200_NAMES, _H200_MEMORY), ["memory_mb", "sm"], _HOPPER_SAME_AS),
    # 0x2348 GH200 144G HBM3e (3.9): 1g/1g+me/1g.36gb/2g real lgip (17.50/35.25 GiB);
    # 3g/4g/7g memory and every SM/engine count (inferred) from the Hopper pattern
    "GH200-144GB": _board(
        "NVIDIA GH200 144G HBM3e", 0x234810DE, 0x190710DE, ARCH_HOPPER, 146944, 132,
        _hopper_rows(_GH200_144G_NAMES, (17920, 36096, 72704, 145664)), [], ["name", "memory_total_mb"]),
    # 0x2941 HGX GB200 (3.11, production names; board total 189471 MiB [S10]): 1g, 1g+me,
    # 1g.47gb and 2g real lgip; 3g/4g/7g memory and SM counts (inferred)
    "GB200": _board(
        "NVIDIA GB200", 0x294110DE, 0x199D10DE, ARCH_BLACKWELL, 189471, 152,
        _blackwell_rows(_GB200_NAMES, (22528, 46592, 93184, 188416), (18, 32, 38, 70, 76, 152)),
        [], ["multiprocessor_count"]),
    # The same GB200 on an early driver (gpu-operator PR #1303): 1g.24gb (20.00 GiB) and
    # the 3g.95gb / 4g.95gb / 7g.189gb names mig-parted still lists; board total (inferred)
    # chosen so those names derive
    "GB200-EARLY-DRIVER": _board(
        "NVIDIA GB200", 0x294110DE, 0x199D10DE, ARCH_BLACKWELL, 193024, 152,
        _blackwell_rows(_GB200_EARLY_NAMES, (20480, 46592, 94720, 191488), (18, 32, 38, 70, 76, 152)),
        [], ["memory_total_mb", "multiprocessor_count"]),
    # 0x3182 B300 SXM6 AC, 0x31C2 GB300 (3.13: names and counts only; GB300 board total
    # 284208 MiB [S10]): memory, SM and engines (inferred) on the B200 pattern
    "B300": _board(
        "NVIDIA B300 SXM6 AC", 0x318210DE, 0x20E610DE, ARCH_BLACKWELL, 275040, 148,
        _blackwell_rows(_B300_NAMES, (33536, 67840, 136192, 273408), (18, 30, 36, 66, 72, 148)),
        ["memory_mb", "sm", "ce", "dec", "jpeg", "ofa"], ["name", "memory_total_mb", "multiprocessor_count"]),
    "GB300": _board(
        "NVIDIA GB300", 0x31C210DE, 0x20F010DE, ARCH_BLACKWELL, 284208, 152,
        _blackwell_rows(_GB300_NAMES, (34816, 70144, 140800, 282624), (18, 32, 38, 70, 76, 152)),
        ["memory_mb", "sm", "ce", "dec", "jpeg", "ofa"], ["name", "multiprocessor_count"]),
})


def full_profile(board):
    """The profile that spans the whole placement grid (7g / 4g without +gfx): its SM and
    engine counts are the capacity every set of GPU instances shares."""
    grid = board["memory_slots"]
    for profile in board["gpu_instance_profiles"]:
        if profile["placements"] == [[0, grid]] and not profile["name"].endswith("+gfx"):
            return profile
    raise ValueError("board %s has no full-GPU profile" % board["name"])

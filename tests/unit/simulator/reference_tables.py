"""Expected values transcribed from /work/shared/reference/mig-profiles.md, NOT from
boards.py, so that a typo in the board data fails a test.

Rows: (name, profile id, max instances, lgip GiB text, SM, CE, DEC, ENC, JPEG, OFA,
lgipp placements text). None = the reference has no value there (inferred / "?" /
column absent), so it is not checked.
"""

ONE_SLOT_8 = "{0,1,2,3,4,5,6}:1"

GPU_INSTANCE_PROFILES = {
    # 3.1 A100-SXM4-40GB (lgip [F8], placements MIG guide [D3])
    "A100-SXM4-40GB": [
        ("1g.5gb", 19, 7, "4.75", 14, 1, 0, 0, 0, 0, ONE_SLOT_8),
        ("1g.5gb+me", 20, 1, "4.75", 14, 1, 1, 0, 1, 1, ONE_SLOT_8),
        ("1g.10gb", 15, 4, "9.62", 14, 1, 1, 0, 0, 0, "{0,2,4,6}:2"),
        ("2g.10gb", 14, 3, "9.62", 28, 2, 1, 0, 0, 0, "{0,2,4}:2"),
        ("3g.20gb", 9, 2, "19.50", 42, 3, 2, 0, 0, 0, "{0,4}:4"),
        ("4g.20gb", 5, 1, "19.50", 56, 4, 2, 0, 0, 0, "{0}:4"),
        ("7g.40gb", 0, 1, "39.25", 98, 7, 5, 0, 1, 1, "{0}:8"),
    ],
    # 3.2 A100-SXM4-80GB (placements not printed)
    "A100-SXM4-80GB": [
        ("1g.10gb", 19, 7, "9.50", 14, 1, 0, 0, 0, 0, None),
        ("1g.10gb+me", 20, 1, "9.50", 14, 1, 1, 0, 1, 1, None),
        ("1g.20gb", 15, 4, "19.50", 14, 1, 1, 0, 0, 0, None),
        ("2g.20gb", 14, 3, "19.50", 28, 2, 1, 0, 0, 0, None),
        ("3g.40gb", 9, 2, "39.25", 42, 3, 2, 0, 0, 0, None),
        ("4g.40gb", 5, 1, "39.25", 56, 4, 2, 0, 0, 0, None),
        ("7g.80gb", 0, 1, "79.00", 98, 7, 5, 0, 1, 1, None),
    ],
    # 3.3 A30 (4 slices; real lgip/lgipp [F7]; 4g prints 23.44 or 23.50 depending on driver)
    "A30-24GB": [
        ("1g.6gb", 14, 4, "5.81", 14, 1, 1, 0, 0, 0, "{0,1,2,3}:1"),
        ("1g.6gb+me", 21, 1, "5.81", 14, 1, 1, 0, 1, 1, "{0,1,2,3}:1"),
        ("2g.12gb", 5, 2, "11.69", 28, 2, 2, 0, 0, 0, "{0,2}:2"),
        ("2g.12gb+me", 6, 1, "11.69", 28, 2, 2, 0, 1, 1, "{0,2}:2"),
        ("4g.24gb", 0, 1, "23.44", 56, 4, 4, 0, 1, 1, "{0}:4"),
    ],
    # 3.4 H100 SXM5 80GB ([F1])
    "H100-SXM5-80GB": [
        ("1g.10gb", 19, 7, "9.75", 16, 1, 1, 0, 1, 0, ONE_SLOT_8),
        ("1g.10gb+me", 20, 1, "9.75", 16, 1, 1, 0, 1, 1, ONE_SLOT_8),
        ("1g.20gb", 15, 4, "19.62", 26, 1, 1, 0, 1, 0, "{0,2,4,6}:2"),
        ("2g.20gb", 14, 3, "19.62", 32, 2, 2, 0, 2, 0, "{0,2,4}:2"),
        ("3g.40gb", 9, 2, "39.50", 60, 3, 3, 0, 3, 0, "{0,4}:4"),
        ("4g.40gb", 5, 1, "39.50", 64, 4, 4, 0, 4, 0, "{0}:4"),
        ("7g.80gb", 0, 1, "79.25", 132, 8, 7, 0, 7, 1, "{0}:8"),
    ],
    # 3.6 H100 NVL ([F2]; "ENC 0 for all")
    "H100-NVL-94GB": [
        ("1g.12gb", 19, 7, "10.75", 16, 1, 1, 0, 1, 0, ONE_SLOT_8),
        ("1g.12gb+me", 20, 1, "10.75", 16, 1, 1, 0, 1, 1, ONE_SLOT_8),
        ("1g.24gb", 15, 4, "21.62", 26, 1, 1, 0, 1, 0, "{0,2,4,6}:2"),
        ("2g.24gb", 14, 3, "21.62", 32, 2, 2, 0, 2, 0, "{0,2,4}:2"),
        ("3g.47gb", 9, 2, "46.38", 60, 3, 3, 0, 3, 0, "{0,4}:4"),
        ("4g.47gb", 5, 1, "46.38", 64, 4, 4, 0, 4, 0, "{0}:4"),
        ("7g.94gb", 0, 1, "93.12", 132, 8, 7, 0, 7, 1, "{0}:8"),
    ],
    # 3.7 H100 96GB on GH200 ([F4]; no ENC column, placements not printed)
    "GH200-96GB": [
        ("1g.12gb", 19, 7, "11.00", 16, 1, 1, None, 1, 0, None),
        ("1g.12gb+me", 20, 1, "11.00", 16, 1, 1, None, 1, 1, None),
        ("1g.24gb", 15, 4, "23.00", 26, 1, 1, None, 1, 0, None),
        ("2g.24gb", 14, 3, "23.00", 32, 2, 2, None, 2, 0, None),
        ("3g.48gb", 9, 2, "46.50", 60, 3, 3, None, 3, 0, None),
        ("4g.48gb", 5, 1, "46.50", 64, 4, 4, None, 4, 0, None),
        ("7g.96gb", 0, 1, "93.00", 132, 8, 7, None, 7, 1, None),
    ],
    # 3.8 H200 141GB: the real capture reference/captures/h200-580.159.04 (nvml-dump.json and
    # nvidia-smi-mig.txt, driver 580.159.04), which supersedes the reference's older-driver
    # memory column ([I4]: 32.25 / 69.50 / 139.75)
    "H200-SXM-141GB": [
        ("1g.18gb", 19, 7, "16.00", 16, 1, 1, 0, 1, 0, ONE_SLOT_8),
        ("1g.18gb+me", 20, 1, "16.00", 16, 1, 1, 0, 1, 1, ONE_SLOT_8),
        ("1g.35gb", 15, 4, "32.50", 26, 1, 1, 0, 1, 0, "{0,2,4,6}:2"),
        ("2g.35gb", 14, 3, "32.50", 32, 2, 2, 0, 2, 0, "{0,2,4}:2"),
        ("3g.71gb", 9, 2, "69.75", 60, 3, 3, 0, 3, 0, "{0,4}:4"),
        ("4g.71gb", 5, 1, "69.75", 64, 4, 4, 0, 4, 0, "{0}:4"),
        ("7g.141gb", 0, 1, "140.00", 132, 8, 7, 0, 7, 1, "{0}:8"),
    ],
    # 3.10 B200 (rows 1-4 real lgip, 22.00 GiB driver; rest: names/counts/docs CE only)
    "B200": [
        ("1g.23gb", 19, 7, "22.00", 18, 2, 1, 0, 1, 0, None),
        ("1g.23gb+me", 20, 1, "22.00", 18, 2, 1, 0, 1, 1, None),
        ("1g.45gb", 15, 4, "44.25", 30, 2, 1, 0, 1, 0, None),
        ("2g.45gb", 14, 3, "44.25", 36, 4, 2, 0, 2, 0, None),
        ("3g.90gb", None, 2, None, None, 6, None, None, None, None, None),
        ("4g.90gb", None, 1, None, None, 8, None, None, None, None, None),
        ("7g.180gb", None, 1, None, None, 16, None, None, None, 1, None),
    ],
    # 3.12 RTX PRO 6000 Blackwell Server Edition ([F6]; 12-unit placement grid)
    "RTX-PRO-6000-BSE": [
        ("1g.24gb", 14, 4, "23.62", 46, 1, 1, 1, 1, 0, "{0,3,6,9}:3"),
        ("1g.24gb+me", 21, 1, "23.62", 46, 1, 1, 1, 1, 1, "{0,3,6,9}:3"),
        ("1g.24gb+gfx", 47, 4, "23.62", 46, 1, 1, 1, 1, 0, "{0,3,6,9}:3"),
        ("1g.24gb+me.all", 65, 1, "23.62", 46, 1, 4, 4, 4, 1, "{0,3,6,9}:3"),
        ("1g.24gb-me", 67, 4, "23.62", 46, 1, 0, 0, 0, 0, "{0,3,6,9}:3"),
        ("2g.48gb", 5, 2, "47.38", 94, 2, 2, 2, 2, 0, "{0,6}:6"),
        ("2g.48gb+gfx", 35, 2, "47.38", 94, 2, 2, 2, 2, 0, "{0,6}:6"),
        ("2g.48gb+me.all", 64, 1, "47.38", 94, 2, 4, 4, 4, 1, "{0,6}:6"),
        ("2g.48gb-me", 66, 2, "47.38", 94, 2, 0, 0, 0, 0, "{0,6}:6"),
        ("4g.96gb", 0, 1, "95.12", 188, 4, 4, 4, 4, 1, "{0}:12"),
        ("4g.96gb+gfx", 32, 1, "95.12", 188, 4, 4, 4, 4, 1, "{0}:12"),
    ],
}


def _names_only(names, counts=(7, 1, 4, 3, 2, 1, 1)):
    """Rows of a board the reference knows only by name and count (3.13, section 9)."""
    return [(name, None, count, None, None, None, None, None, None, None, None) for name, count in zip(names, counts)]


_A100_40_ROWS = GPU_INSTANCE_PROFILES["A100-SXM4-40GB"]
_A100_80_ROWS = GPU_INSTANCE_PROFILES["A100-SXM4-80GB"]
_GH200_96_NAMES = ("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.48gb", "4g.48gb", "7g.96gb")

GPU_INSTANCE_PROFILES.update({
    # 3.1: A100 PCIe 40GB (0x20F1/0x20B1) and A800 40GB share A100-SXM4-40GB's profile set
    "A100-PCIE-40GB": _A100_40_ROWS,
    "A100-PCIE-40GB-20B1": _A100_40_ROWS,
    "A800-PCIE-40GB": _A100_40_ROWS,
    # 3.2: "same names as SXM4-80GB" (A100 PCIe 80GB; A800 80GB per the config's filter)
    "A100-PCIE-80GB": _A100_80_ROWS,
    "A800-SXM4-80GB": _A100_80_ROWS,
    "A800-PCIE-80GB": _A100_80_ROWS,
    # section 8: PG506-232 shares the 96GB filter: names only
    "PG506-96GB": _names_only(_GH200_96_NAMES),
    # 3.5 H100 PCIe (driver 570.169; lgipp not printed)
    "H100-PCIE-80GB": [
        ("1g.10gb", 19, 7, "9.75", 14, 1, 1, 0, 1, 0, None),
        ("1g.10gb+me", 20, 1, "9.75", 14, 1, 1, 0, 1, 1, None),
        ("1g.20gb", 15, 4, "19.62", 14, 1, 1, 0, 1, 0, None),
        ("2g.20gb", 14, 3, "19.62", 30, 2, 2, 0, 2, 0, None),
        ("3g.40gb", 9, 2, "39.50", 46, 3, 3, 0, 3, 0, None),
        ("4g.40gb", 5, 1, "39.50", 62, 4, 4, 0, 4, 0, None),
        ("7g.80gb", 0, 1, "79.25", 114, 8, 7, 0, 7, 1, None),
    ],
    # section 8: H800 PCIe / H800 share the 80GB filter, H800 NVL the H100 NVL one
    "H800-PCIE-80GB": _names_only(("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    "H800-SXM5-80GB": _names_only(("1g.10gb", "1g.10gb+me", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")),
    "H800-NVL-94GB": _names_only(("1g.12gb", "1g.12gb+me", "1g.24gb", "2g.24gb", "3g.47gb", "4g.47gb", "7g.94gb")),
    # 3.7: H100 96GB and H20 share GH200's filter and names
    "H100-96GB": _names_only(_GH200_96_NAMES),
    "H20": _names_only(_GH200_96_NAMES),
    # 3.8: H200 NVL treated as H200
    "H200-NVL-141GB": _names_only(("1g.18gb", "1g.18gb+me", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb")),
    # 3.9 GH200 144G (first four rows real lgip; no ENC column)
    "GH200-144GB": [
        ("1g.18gb", 19, 7, "17.50", 16, 1, 1, None, 1, 0, None),
        ("1g.18gb+me", 20, 1, "17.50", 16, 1, 1, None, 1, 1, None),
        ("1g.36gb", 15, 4, "35.25", 26, 1, 1, None, 1, 0, None),
        ("2g.36gb", 14, 3, "35.25", 32, 2, 2, None, 2, 0, None),
        ("3g.72gb", None, 2, None, None, None, None, None, None, None, None),
        ("4g.72gb", None, 1, None, None, None, None, None, None, None, None),
        ("7g.144gb", None, 1, None, None, None, None, None, None, None, None),
    ],
    # 3.11 GB200, production names (first rows real lgip; no ENC column)
    "GB200": [
        ("1g.23gb", 19, 7, "22.00", 18, 2, 1, None, 1, 0, None),
        ("1g.23gb+me", 20, 1, "22.00", 18, 2, 1, None, 1, 1, None),
        ("1g.47gb", 15, 4, "45.50", 32, 2, 1, None, 1, 0, None),
        ("2g.47gb", 14, 3, "45.50", 38, 4, 2, None, 2, 0, None),
        ("3g.93gb", None, 2, None, None, None, None, None, None, None, None),
        ("4g.93gb", None, 1, None, None, None, None, None, None, None, None),
        ("7g.186gb", None, 1, None, None, None, None, None, None, None, None),
    ],
    # 3.11 GB200, early-driver names (1g 20.00 GiB)
    "GB200-EARLY-DRIVER": [
        ("1g.24gb", 19, 7, "20.00", 18, 2, 1, None, 1, 0, None),
        ("1g.24gb+me", 20, 1, "20.00", 18, 2, 1, None, 1, 1, None),
        ("1g.47gb", 15, 4, "45.50", 32, 2, 1, None, 1, 0, None),
        ("2g.47gb", 14, 3, "45.50", 38, 4, 2, None, 2, 0, None),
        ("3g.95gb", None, 2, None, None, None, None, None, None, None, None),
        ("4g.95gb", None, 1, None, None, None, None, None, None, None, None),
        ("7g.189gb", None, 1, None, None, None, None, None, None, None, None),
    ],
    # 3.13: B300 and GB300, names and counts
    "B300": _names_only(("1g.34gb", "1g.34gb+me", "1g.67gb", "2g.67gb", "3g.135gb", "4g.135gb", "7g.269gb")),
    "GB300": _names_only(("1g.35gb", "1g.35gb+me", "1g.70gb", "2g.70gb", "3g.139gb", "4g.139gb", "7g.278gb")),
})

# Board identity: NVML name where a real capture / lgip heading gives it (None: not in
# the reference), PCI device id (section 8), architecture (1.3), board FB total MiB where
# the reference gives one, max MIG devices (section 8: RTX PRO 6000 4, A30 4, others 7).
BOARDS = {
    "A100-SXM4-40GB": ("NVIDIA A100-SXM4-40GB", 0x20B0, 7, 40960, 7),
    "A100-SXM4-80GB": (None, 0x20B2, 7, 81920, 7),
    "A30-24GB": (None, 0x20B7, 7, None, 4),
    "H100-SXM5-80GB": ("NVIDIA H100 80GB HBM3", 0x2330, 9, 81559, 7),
    "H100-NVL-94GB": ("NVIDIA H100 NVL", 0x2321, 9, 95830, 7),
    "GH200-96GB": (None, 0x2342, 9, None, 7),
    "H200-SXM-141GB": ("NVIDIA H200", 0x2335, 9, 143771, 7),  # real capture, driver 580.159.04
    "B200": ("NVIDIA B200", 0x2901, 10, 183359, 7),
    "RTX-PRO-6000-BSE": ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 0x2BB5, 10, 97887, 4),
}

BOARDS.update({
    "A100-PCIE-40GB": (None, 0x20F1, 7, None, 7),
    "A100-PCIE-40GB-20B1": (None, 0x20B1, 7, None, 7),
    "A800-PCIE-40GB": (None, 0x20F6, 7, None, 7),
    "A100-PCIE-80GB": (None, 0x20B5, 7, None, 7),
    "A800-SXM4-80GB": (None, 0x20F3, 7, None, 7),
    "A800-PCIE-80GB": (None, 0x20F5, 7, None, 7),
    "PG506-96GB": (None, 0x20B6, 7, None, 7),
    "H100-PCIE-80GB": ("NVIDIA H100 PCIe", 0x2331, 9, None, 7),
    "H800-PCIE-80GB": (None, 0x2322, 9, None, 7),
    "H800-SXM5-80GB": (None, 0x2324, 9, None, 7),
    "H800-NVL-94GB": (None, 0x233A, 9, None, 7),
    "H100-96GB": (None, 0x233D, 9, None, 7),
    "H20": (None, 0x2329, 9, None, 7),
    "H200-NVL-141GB": (None, 0x233B, 9, None, 7),
    "GH200-144GB": (None, 0x2348, 9, None, 7),
    "GB200": ("NVIDIA GB200", 0x2941, 10, 189471, 7),
    "GB200-EARLY-DRIVER": ("NVIDIA GB200", 0x2941, 10, None, 7),
    "B300": (None, 0x3182, 10, None, 7),
    "GB300": (None, 0x31C2, 10, 284208, 7),
})

# Section 5 (A100, real -lcip): CI rows per GI profile id: (name, id, instances, SM, default)
A100_40GB_COMPUTE_PROFILES = {
    19: [("1g.5gb", 0, 1, 14, True)],
    14: [("1c.2g.10gb", 0, 2, 14, False), ("2g.10gb", 1, 1, 28, True)],
    9: [("1c.3g.20gb", 0, 3, 14, False), ("2c.3g.20gb", 1, 1, 28, False), ("3g.20gb", 2, 1, 42, True)],
    5: [("1c.4g.20gb", 0, 4, 14, False), ("2c.4g.20gb", 1, 2, 28, False), ("4g.20gb", 3, 1, 56, True)],
}

# Section 8 + 9 config-name fixtures derived with go-nvlib's formula must give these names
# (mig-parted all-balanced configs, section 9).
BALANCED_NAMES = {
    "A100-SXM4-40GB": ["1g.5gb", "2g.10gb", "3g.20gb"],
    "A100-SXM4-80GB": ["1g.10gb", "2g.20gb", "3g.40gb"],
    "A30-24GB": ["1g.6gb", "2g.12gb"],
    "H100-NVL-94GB": ["1g.12gb", "2g.24gb", "3g.47gb"],
    "GH200-96GB": ["1g.12gb", "2g.24gb", "3g.48gb"],
    "H200-SXM-141GB": ["1g.18gb", "2g.35gb", "3g.71gb"],
    "B200": ["1g.23gb", "2g.45gb", "3g.90gb"],
    "RTX-PRO-6000-BSE": ["1g.24gb", "2g.48gb"],
}

# Section 9 all-balanced names of the boards added for config-default.yaml (its filters)
BALANCED_NAMES.update({
    "A100-PCIE-40GB": BALANCED_NAMES["A100-SXM4-40GB"],
    "A100-PCIE-40GB-20B1": BALANCED_NAMES["A100-SXM4-40GB"],
    "A800-PCIE-40GB": BALANCED_NAMES["A100-SXM4-40GB"],
    "A100-PCIE-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "A800-SXM4-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "A800-PCIE-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "PG506-96GB": BALANCED_NAMES["GH200-96GB"],
    "H100-PCIE-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "H800-PCIE-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "H800-SXM5-80GB": BALANCED_NAMES["A100-SXM4-80GB"],
    "H800-NVL-94GB": BALANCED_NAMES["H100-NVL-94GB"],
    "H100-96GB": BALANCED_NAMES["GH200-96GB"],
    "H20": BALANCED_NAMES["GH200-96GB"],
    "H200-NVL-141GB": BALANCED_NAMES["H200-SXM-141GB"],
    "GH200-144GB": ["1g.18gb", "2g.36gb", "3g.72gb"],
    "GB200": ["1g.23gb", "2g.47gb", "3g.93gb"],
    "GB200-EARLY-DRIVER": ["1g.24gb", "2g.47gb", "3g.95gb"],
    "B300": ["1g.34gb", "2g.67gb", "3g.135gb"],
    "GB300": ["1g.35gb", "2g.70gb", "3g.139gb"],
})

# fabric-manager-and-cdi.md A2: (partition id, physical ids) per NVSwitch preset.
FABRIC_PARTITIONS = {
    "dgx-a100": [(1, list(range(1, 9))), (7, [1, 2, 3, 4]), (8, [5, 6, 7, 8]), (11, [1, 2]), (12, [3, 4]),
                 (13, [5, 6]), (14, [7, 8])] + [(18 + phys, [phys]) for phys in range(1, 9)],
    "dgx-h100": [(0, list(range(1, 9))), (1, [1, 2, 3, 4]), (2, [5, 6, 7, 8]), (3, [1, 3]), (4, [2, 4]),
                 (5, [5, 7]), (6, [6, 8])] + [(6 + phys, [phys]) for phys in range(1, 9)],
    "dgx-b200": [(1, list(range(1, 9))), (2, [1, 2, 3, 4]), (3, [5, 6, 7, 8]), (4, [1, 2]), (5, [3, 4]),
                 (6, [5, 6]), (7, [7, 8])] + [(7 + phys, [phys]) for phys in range(1, 9)],
}


def parse_placements(text):
    """'{0,2,4}:2' (as nvidia-smi mig -lgipp prints it) -> [(0, 2), (2, 2), (4, 2)]."""
    starts, size = text.split(":")
    return [(int(start), int(size)) for start in starts.strip("{}").split(",")]

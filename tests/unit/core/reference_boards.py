"""Profile tables of four real boards, transcribed from reference/mig-profiles.md §3 and §5.

Rows are (name, profile id, enum, max instances, MiB, SM, (CE, DEC, ENC, JPEG, OFA),
placement starts, placement size). Compute-instance profiles follow reference §5
(go-nvlib's C-per-G rule, CI id = enum, 1c.1g REV2 default id 7 on Hopper, placements as
the go-nvml mocks list them: marked (mock) there, good enough for packing tests).
"""

from ansible_collections.gpuops.mig.plugins.module_utils._model import (
    ComputeInstanceProfile,
    Engines,
    GpuInstanceProfile,
    Placement,
)

# Compute-slice counts per GI size, their CI profile ids (= enum), max count, placements.
_CI_ROWS = {
    1: [(1, 0, 1, (0,))],
    2: [(1, 0, 2, (0, 1)), (2, 1, 1, (0,))],
    3: [(1, 0, 3, (0, 1, 2)), (2, 1, 1, (0,)), (3, 2, 1, (0,))],
    4: [(1, 0, 4, (0, 1, 2, 3)), (2, 1, 2, (0, 2)), (4, 3, 1, (0,))],
    7: [(1, 0, 7, tuple(range(7))), (2, 1, 3, (0, 2, 4)), (3, 2, 2, (0, 4)), (4, 3, 1, (0,)), (7, 4, 1, (0,))],
}


def _compute_profiles(gi_name, gi_slices, gi_sm, rev1_default=False):
    base = gi_name.split("+")[0].split("-")[0]
    sm_per_slice = gi_sm // gi_slices
    profiles = []
    for slices, ci_id, count, starts in _CI_ROWS[gi_slices]:
        full = slices == gi_slices
        if full and rev1_default:
            ci_id = 7
        profiles.append(
            ComputeInstanceProfile(
                profile_id=ci_id,
                name=base if full else "%dc.%s" % (slices, base),
                slice_count=slices,
                instance_count=count,
                multiprocessor_count=gi_sm if full else sm_per_slice * slices,
                placements=tuple(Placement(start, slices) for start in starts),
                is_default=full,
            )
        )
    return tuple(profiles)


def _board(rows, rev1_default_ids=()):
    profiles = []
    for name, pid, enum, count, mib, sm, engines, starts, size in rows:
        slices = int(name.split("g.")[0])
        profiles.append(
            GpuInstanceProfile(
                profile_id=pid,
                enum=enum,
                name=name,
                slice_count=slices,
                instance_count=count,
                memory_mb=mib,
                multiprocessor_count=sm,
                engines=Engines(*engines),
                placements=tuple(Placement(start, size) for start in starts),
                compute_profiles=_compute_profiles(name, slices, sm, pid in rev1_default_ids),
            )
        )
    return tuple(profiles)


EIGHT = tuple(range(7))

A100_40GB = _board(
    [
        ("1g.5gb", 19, 0, 7, 4864, 14, (1, 0, 0, 0, 0), EIGHT, 1),
        ("1g.5gb+me", 20, 7, 1, 4864, 14, (1, 1, 0, 1, 1), EIGHT, 1),
        ("1g.10gb", 15, 9, 4, 9856, 14, (1, 1, 0, 0, 0), (0, 2, 4, 6), 2),
        ("2g.10gb", 14, 1, 3, 9856, 28, (2, 1, 0, 0, 0), (0, 2, 4), 2),
        ("3g.20gb", 9, 2, 2, 19968, 42, (3, 2, 0, 0, 0), (0, 4), 4),
        ("4g.20gb", 5, 3, 1, 19968, 56, (4, 2, 0, 0, 0), (0,), 4),
        ("7g.40gb", 0, 4, 1, 40192, 98, (7, 5, 0, 1, 1), (0,), 8),
    ]
)

A30 = _board(
    [
        ("1g.6gb", 14, 0, 4, 5952, 14, (1, 1, 0, 0, 0), (0, 1, 2, 3), 1),
        ("1g.6gb+me", 21, 7, 1, 5952, 14, (1, 1, 0, 1, 1), (0, 1, 2, 3), 1),
        ("2g.12gb", 5, 1, 2, 11968, 28, (2, 2, 0, 0, 0), (0, 2), 2),
        ("2g.12gb+me", 6, 8, 1, 11968, 28, (2, 2, 0, 1, 1), (0, 2), 2),
        ("4g.24gb", 0, 3, 1, 24000, 56, (4, 4, 0, 1, 1), (0,), 4),
    ]
)

H100_80GB = _board(
    [
        ("1g.10gb", 19, 0, 7, 9984, 16, (1, 1, 0, 1, 0), EIGHT, 1),
        ("1g.10gb+me", 20, 7, 1, 9984, 16, (1, 1, 0, 1, 1), EIGHT, 1),
        ("1g.20gb", 15, 9, 4, 20096, 26, (1, 1, 0, 1, 0), (0, 2, 4, 6), 2),
        ("2g.20gb", 14, 1, 3, 20096, 32, (2, 2, 0, 2, 0), (0, 2, 4), 2),
        ("3g.40gb", 9, 2, 2, 40448, 60, (3, 3, 0, 3, 0), (0, 4), 4),
        ("4g.40gb", 5, 3, 1, 40448, 64, (4, 4, 0, 4, 0), (0,), 4),
        ("7g.80gb", 0, 4, 1, 81152, 132, (8, 7, 0, 7, 1), (0,), 8),
    ],
    rev1_default_ids=(15,),
)

RTX_PRO_6000 = _board(
    [
        ("1g.24gb", 14, 0, 4, 24192, 46, (1, 1, 1, 1, 0), (0, 3, 6, 9), 3),
        ("1g.24gb+me", 21, 7, 1, 24192, 46, (1, 1, 1, 1, 1), (0, 3, 6, 9), 3),
        ("1g.24gb+gfx", 47, 10, 4, 24192, 46, (1, 1, 1, 1, 0), (0, 3, 6, 9), 3),
        ("1g.24gb+me.all", 65, 15, 1, 24192, 46, (1, 4, 4, 4, 1), (0, 3, 6, 9), 3),
        ("1g.24gb-me", 67, 13, 4, 24192, 46, (1, 0, 0, 0, 0), (0, 3, 6, 9), 3),
        ("2g.48gb", 5, 1, 2, 48517, 94, (2, 2, 2, 2, 0), (0, 6), 6),
        ("2g.48gb+gfx", 35, 11, 2, 48517, 94, (2, 2, 2, 2, 0), (0, 6), 6),
        ("2g.48gb+me.all", 64, 16, 1, 48517, 94, (2, 4, 4, 4, 1), (0, 6), 6),
        ("2g.48gb-me", 66, 14, 2, 48517, 94, (2, 0, 0, 0, 0), (0, 6), 6),
        ("4g.96gb", 0, 3, 1, 97403, 188, (4, 4, 4, 4, 1), (0,), 12),
        ("4g.96gb+gfx", 32, 12, 1, 97403, 188, (4, 4, 4, 4, 1), (0,), 12),
    ]
)

BOARDS = {
    "A100-40GB": A100_40GB,
    "A30": A30,
    "H100-80GB": H100_80GB,
    "RTX-PRO-6000": RTX_PRO_6000,
}

EIGHT_SLOT_BOARDS = ("A100-40GB", "H100-80GB")


def by_name(profiles, name):
    """The profile called ``name`` in a board table."""
    return next(profile for profile in profiles if profile.name == name)

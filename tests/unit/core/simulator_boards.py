"""The simulator's board catalogue as GpuInstanceProfile tuples (test adapter only).

The simulator's NVML layer builds the same namedtuples at run time from what its fake
device reports; here they are built straight from the catalogue so the pure core can be
checked exhaustively against every simulated board without a simulated host.
"""

from ansible_collections.gpuops.mig.plugins.module_utils._model import (
    ComputeInstanceProfile,
    Engines,
    GpuInstanceProfile,
    Placement,
)

try:
    from ansible_collections.gpuops.mig.plugins.module_utils._simulator.boards import BOARDS as _CATALOGUE
except ImportError:  # catalogue not written yet
    _CATALOGUE = {}


def _compute(rows):
    return tuple(
        ComputeInstanceProfile(
            profile_id=row["id"],
            name=row["name"],
            slice_count=row["slices"],
            instance_count=row["instances"],
            multiprocessor_count=row["sm"],
            placements=tuple(Placement(*p) for p in row["placements"]),
            is_default=row["default"],
        )
        for row in rows
    )


def to_profiles(board):
    return tuple(
        GpuInstanceProfile(
            profile_id=row["id"],
            enum=row["enum"],
            name=row["name"],
            slice_count=row["slices"],
            instance_count=row["instances"],
            memory_mb=row["memory_mb"],
            multiprocessor_count=row["sm"],
            engines=Engines(row["ce"], row["dec"], row["enc"], row["jpeg"], row["ofa"]),
            placements=tuple(Placement(*p) for p in row["placements"]),
            compute_profiles=_compute(row["compute_profiles"]),
        )
        for row in board["gpu_instance_profiles"]
    )


SIMULATOR_BOARDS = dict((name, to_profiles(board)) for name, board in sorted(_CATALOGUE.items()))
SIMULATOR_ARCHITECTURES = dict((name, board["architecture"]) for name, board in sorted(_CATALOGUE.items()))

"""Planning benchmarks of the pure core, printed side by side (no assertions).

1. single-GPU planning time: ``_placement.plan`` on random transitions, cold (board
   caches cleared before every call) and warm; target p50 < 1 ms.
2. fleet planning: ``_fleet.plan_fleet`` on 10,000 GPUs (A100, H100 with fabric
   partitions, B200, RTX PRO 6000) with a mixed demand; target < 2 s on one core.
3. fragmentation: random creation sequences on one GPU placed by best-fit, balanced and
   the model of the driver's default order (``_placement.DRIVER_DEFAULT_START_ORDER``,
   reference §4.1), one creation at a time; plus whole layouts the driver order refuses
   although a placement exists; plus fleet-wide full GPUs left by best-fit vs balanced.
4. disruption: GPU instances destroyed by disruption-minimal plans vs wipe-and-recreate.

Boards come from the simulator's catalogue (tests/unit/core/simulator_boards.py).
Usage: .venv/bin/python bench/bench_planning.py [--quick]
"""

import os
import random
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for root in (os.path.join(REPO, "build", "collections"), os.path.join(REPO, "build", "dev")):
    if os.path.isdir(os.path.join(root, "ansible_collections", "gpuops", "mig")):
        sys.path.insert(0, root)
        break
else:
    sys.exit("build the collection first: make install (or run the unit tests once)")
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "core"))

from simulator_boards import SIMULATOR_ARCHITECTURES, SIMULATOR_BOARDS  # noqa: E402

from ansible_collections.gpuops.mig.plugins.module_utils import _placement  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._errors import PlacementError  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._fleet import plan_fleet  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuInstance  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._placement import (  # noqa: E402
    Desired,
    driver_default_order,
    place,
    plan,
)

QUICK = "--quick" in sys.argv
EIGHT_SLOT = ("A100-SXM4-40GB", "H100-SXM5-80GB", "B200")


def random_layout(rng, profiles, attempts):
    """A random valid layout [(profile, placement)] grown by exact placement."""
    chosen = []
    for _attempt in range(attempts):
        profile = rng.choice(profiles)
        existing = [GpuInstance(n, p.profile_id, pl, (), ()) for n, (p, pl) in enumerate(chosen)]
        try:
            (_item, placement), = place(profiles, [Desired(profile)], existing, strategy="balanced")
        except PlacementError:
            continue
        chosen.append((profile, placement))
    return chosen


def transitions(rng, profiles, count):
    result = []
    for _case in range(count):
        current = [GpuInstance(10 + n, p.profile_id, pl, (), ()) for n, (p, pl) in enumerate(random_layout(rng, profiles, rng.randint(1, 10)))]
        wanted = [p for p, _pl in random_layout(rng, profiles, rng.randint(1, 10))]
        result.append((current, wanted))
    return result


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_single_gpu():
    rng = random.Random(1)
    rows = []
    for name in EIGHT_SLOT + ("RTX-PRO-6000-BSE",):
        profiles = SIMULATOR_BOARDS[name]
        cases = transitions(rng, profiles, 150 if QUICK else 600)
        timings = {"cold": [], "warm": []}
        for mode in ("cold", "warm"):
            for current, wanted in cases:
                if mode == "cold":
                    _placement._BOARDS.clear()
                start = time.perf_counter()
                plan(profiles, current, [Desired(p) for p in wanted])
                timings[mode].append((time.perf_counter() - start) * 1000)
        rows.append((name, timings))
    print("1. single-GPU plan() on random transitions (ms; target p50 < 1 ms)")
    print("   %-18s %8s %8s %8s   %8s %8s" % ("board", "cold p50", "p95", "max", "warm p50", "p95"))
    for name, timings in rows:
        cold, warm = timings["cold"], timings["warm"]
        print(
            "   %-18s %8.3f %8.3f %8.2f   %8.3f %8.3f"
            % (name, statistics.median(cold), percentile(cold, 0.95), max(cold), statistics.median(warm), percentile(warm, 0.95))
        )


def fleet(gpu_count):
    kinds = [("A100-SXM4-40GB", None), ("H100-SXM5-80GB", 1), ("B200", None), ("RTX-PRO-6000-BSE", None)]
    gpus = []
    for index in range(gpu_count):
        host, slot = divmod(index, 8)
        board, partition = kinds[host % len(kinds)]
        gpus.append(
            {
                "host": "node%05d" % host,
                "index": slot,
                "uuid": "GPU-%08d" % index,
                "architecture": SIMULATOR_ARCHITECTURES[board],
                "profiles": SIMULATOR_BOARDS[board],
                "instances": [],
                "fabric_partition": partition,
            }
        )
    return gpus


FLEET_DEMAND = [
    {"requirements": {"memory_gb": 10}, "count": 14000},
    {"requirements": {"memory_gb": 20, "compute_slices": 2}, "count": 9000},
    {"requirements": {"memory_gb": 40}, "count": 5000},
    {"profile": "1g.24gb", "count": 4000},
    {"requirements": {"memory_gb": 5, "media_engines": True}, "count": 1500},
    {"requirements": {"memory_gb": 80}, "count": 800},
]


def bench_fleet():
    gpus = fleet(10000)
    print("2. fleet planning, 10,000 GPUs, %d demanded instances (target < 2 s, one core)" % sum(d["count"] for d in FLEET_DEMAND))
    print(
        "   %-13s %8s %8s %9s %9s %10s %11s"
        % ("strategy", "wall s", "cpu s", "placed", "unplaced", "idle GPUs", "partly used")
    )
    for strategy in ("best-fit", "balanced", "fabric-aware"):
        _placement._BOARDS.clear()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = plan_fleet(gpus, FLEET_DEMAND, strategy)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        unplaced = sum(entry["count"] for entry in result["unplaced"])
        idle = sum(1 for entry in result["gpus"] if not entry["layout"])
        print(
            "   %-13s %8.2f %8.2f %9d %9d %10d %11d"
            % (strategy, elapsed, cpu, result["placed"], unplaced, idle, len(result["gpus"]) - idle)
        )


def _largest_creatable(board, occupied, counts):
    capacity = board.remaining_capacity(occupied, counts)
    return max([max(p.size for p in board.by_id[pid].placements) for pid, n in capacity.items() if n] or [0])


def _placeable(profiles, profile_ids):
    by_id = dict((p.profile_id, p) for p in profiles)
    try:
        place(profiles, [Desired(by_id[profile_id]) for profile_id in profile_ids])
    except PlacementError:
        return False
    return True


def bench_fragmentation():
    rng = random.Random(2)
    trials = 150 if QUICK else 600
    print("3. fragmentation on one GPU: %d random sequences of 2-4 creations (profiles up to half the GPU)" % trials)
    print("   per board, one creation at a time. 'avoidable' = refused although the instances so far plus")
    print("   this one have a valid placement (refusals caused by fragmentation); 'largest left' = mean")
    print("   grid units of the largest profile still creatable; 'half left' = a half-GPU profile still fits")
    print(
        "   %-18s %-13s %8s %8s %9s %13s %9s"
        % ("board", "method", "accepted", "refused", "avoidable", "largest left", "half left")
    )
    for name in EIGHT_SLOT + ("RTX-PRO-6000-BSE",):
        profiles = SIMULATOR_BOARDS[name]
        board = _placement.board_for(profiles)
        small = [p for p in profiles if max(x.size for x in p.placements) * 2 <= board.grid]
        sequences = [[rng.choice(small) for _step in range(rng.randint(2, 4))] for _trial in range(trials)]
        for method in ("best-fit", "balanced", "driver order"):
            accepted = refused = avoidable = half_left = 0
            largest = []
            for sequence in sequences:
                existing = []
                for profile in sequence:
                    try:
                        if method == "driver order":
                            (_item, placement), = driver_default_order(profiles, [Desired(profile)], existing)
                        else:
                            (_item, placement), = place(profiles, [Desired(profile)], existing, method)
                    except PlacementError:
                        refused += 1
                        avoidable += _placeable(profiles, [i.profile_id for i in existing] + [profile.profile_id])
                        continue
                    existing.append(GpuInstance(len(existing), profile.profile_id, placement, (), ()))
                    accepted += 1
                occupied, counts = 0, {}
                for instance in existing:
                    occupied |= ((1 << instance.placement.size) - 1) << instance.placement.start
                    counts[instance.profile_id] = counts.get(instance.profile_id, 0) + 1
                largest.append(_largest_creatable(board, occupied, counts))
                half_left += largest[-1] * 2 >= board.grid
            print(
                "   %-18s %-13s %8d %8d %9d %10.2f/%-2d %8.0f%%"
                % (name, method, accepted, refused, avoidable, statistics.mean(largest), board.grid, 100.0 * half_left / trials)
            )
    # Whole layouts that an exact placement exists for, created in a random order.
    profiles = SIMULATOR_BOARDS["A100-SXM4-40GB"]
    layouts = [[p for p, _pl in random_layout(rng, profiles, 10)] for _trial in range(trials)]
    refused = 0
    for wanted in layouts:
        rng.shuffle(wanted)
        try:
            driver_default_order(profiles, [Desired(p) for p in wanted])
        except PlacementError:
            refused += 1
    print(
        "   A100-SXM4-40GB whole layouts (all placeable): driver order refuses %d of %d, exact placement 0"
        % (refused, len(layouts))
    )


def bench_disruption():
    rng = random.Random(3)
    print("4. GPU instances destroyed per transition: disruption-minimal vs wipe-and-recreate")
    print("   %-18s %11s %9s %9s %9s" % ("board", "transitions", "minimal", "recreate", "ratio"))
    for name in EIGHT_SLOT + ("RTX-PRO-6000-BSE",):
        profiles = SIMULATOR_BOARDS[name]
        cases = transitions(rng, profiles, 200 if QUICK else 1000)
        destroyed = {"minimal": 0, "recreate": 0}
        for current, wanted in cases:
            for mode in destroyed:
                destroyed[mode] += len(plan(profiles, current, [Desired(p) for p in wanted], disruption=mode).destroy)
        print(
            "   %-18s %11d %9d %9d %9.2f"
            % (name, len(cases), destroyed["minimal"], destroyed["recreate"], destroyed["minimal"] / float(destroyed["recreate"] or 1))
        )


def main():
    print("gpuops.mig planning bench (python %s)%s" % (sys.version.split()[0], " --quick" if QUICK else ""))
    bench_single_gpu()
    bench_fleet()
    bench_fragmentation()
    bench_disruption()


if __name__ == "__main__":
    main()

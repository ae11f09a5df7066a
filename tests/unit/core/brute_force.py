"""Brute-force reference for the placement model, written independently of _placement.

Slots are Python sets, every placement of every item is tried (only symmetric repeats of
the same profile are skipped), and the rules are re-stated from the constraint model:
listed placements only, no overlap, at most instance_count per profile, and the summed
DEC/ENC/JPEG/OFA within those of the profile that spans the whole grid.
"""

from collections import Counter
from itertools import combinations

ENGINES = ("decoder", "encoder", "jpeg", "ofa")


def grid_of(profiles):
    return max(p.start + p.size for profile in profiles for p in profile.placements)


def slots(placement):
    return set(range(placement.start, placement.start + placement.size))


def engine_budget(profiles):
    grid = grid_of(profiles)
    spanning = [p for p in profiles if [tuple(x) for x in p.placements] == [(0, grid)]]
    if not spanning:
        return None
    return dict((e, max(getattr(p.engines, e) for p in spanning)) for e in ENGINES)


def within_limits(profiles, chosen):
    """chosen: list of GpuInstanceProfile (the whole GPU's instances)."""
    for profile, count in Counter(chosen).items():
        if count > profile.instance_count:
            return False
    budget = engine_budget(profiles)
    if budget is not None:
        for engine in ENGINES:
            if sum(getattr(p.engines, engine) for p in chosen) > budget[engine]:
                return False
    return True


def find_placements(profiles, wanted, taken=frozenset(), existing_profiles=()):
    """A list of placements for ``wanted`` (profiles) avoiding ``taken`` slots, or None."""
    if not within_limits(profiles, list(existing_profiles) + list(wanted)):
        return None
    items = sorted(wanted, key=lambda p: (p.profile_id, p.name))
    result = []

    def search(index, used, previous_choice):
        if index == len(items):
            return True
        profile = items[index]
        first = previous_choice + 1 if index and items[index - 1] == profile else 0
        for choice in range(first, len(profile.placements)):
            placement = profile.placements[choice]
            cells = slots(placement)
            if cells & used:
                continue
            result.append(placement)
            if search(index + 1, used | cells, choice):
                return True
            result.pop()
        return False

    if search(0, set(taken), -1):
        return list(zip(items, result))
    return None


def minimum_destroyed(profiles, current, wanted):
    """Fewest current GpuInstances to destroy so that ``wanted`` (profiles) is reachable.

    A kept instance stays where it is and stands for one wanted instance of its profile.
    """
    by_id = dict((p.profile_id, p) for p in profiles)
    wanted_counts = Counter(wanted)
    for keep in range(len(current), -1, -1):
        for subset in combinations(current, keep):
            kept = Counter(by_id[i.profile_id] for i in subset)
            if any(count > wanted_counts[profile] for profile, count in kept.items()):
                continue
            taken = set()
            overlap = False
            for instance in subset:
                cells = slots(instance.placement)
                overlap = overlap or bool(cells & taken)
                taken |= cells
            if overlap:
                continue
            rest = list((wanted_counts - kept).elements())
            if find_placements(profiles, rest, frozenset(taken), [by_id[i.profile_id] for i in subset]) is not None:
                return len(current) - keep
    raise AssertionError("wanted layout is not placeable at all")


def multisets(profiles, limit_units=None):
    """Every multiset of profiles whose smallest footprints add up to at most the grid."""
    grid = limit_units or grid_of(profiles)
    ordered = sorted(profiles, key=lambda p: p.profile_id)
    sizes = [min(p.size for p in profile.placements) for profile in ordered]

    def extend(start, room):
        yield []
        for index in range(start, len(ordered)):
            if sizes[index] <= room:
                for rest in extend(index, room - sizes[index]):
                    yield [ordered[index]] + rest

    return list(extend(0, grid))

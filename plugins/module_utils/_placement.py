# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Exact GPU-instance placement on one GPU and the disruption-minimal plan.

Constraint model (one GPU; everything comes from the profile list the device reports):

* a GPU instance occupies one of its profile's own placements (``start``, ``size`` in
  memory-slot units of the board's grid: 8 on A100/H100/B200, 12 on RTX PRO 6000);
  placements are never derived from slice counts;
* instances never overlap;
* at most ``instance_count`` instances of each profile exist;
* shared media engines: the DEC, ENC, JPEG and OFA counts of all instances together never
  exceed those of the full-GPU profile (the one whose single placement covers the whole
  grid). This one budget reproduces the driver's media-engine rules in the reference
  tables: a second ``+me`` (A100, A30, H100: one OFA/JPEG), ``+me.all`` excluding all but
  ``-me`` (RTX PRO: its 4 DEC/ENC/JPEG are all the board has), and ``+me``/``+me.all``
  being mutually exclusive (one OFA) - while admitting 7x 1g on every 8-slot board and
  mig-parted's all-balanced configs (tests/unit/core check this per board). A board
  without a full-GPU profile gets no engine budget (instance counts still apply).

Feasibility is exact: the free slots are packed by a dynamic program over slot bitmasks
that visits every reachable occupancy (at most 2^grid states), memoised per board and
(occupied slots, multiset of placement shapes). A layout is placed if and only if some
valid placement exists, unlike the driver's own default order (``driver_default_order``)
which refuses e.g. 1g,1g,2g,3g on A100.

Strategies choose among the valid final occupancies:

* ``best-fit`` maximises what can still be created afterwards: the remaining capacity of
  every profile (free non-overlapping placements, instance count and engine budget left),
  compared largest profile first; ties go to the occupancy using higher slots, which
  is where the driver puts small instances too;
* ``balanced`` spreads instances over the grid (largest smallest gap between neighbouring
  instances), then as best-fit;
* ``fabric-aware`` places like best-fit on one GPU; uniformity across the GPUs of a
  fabric partition is the fleet planner's job (``_fleet``).

Compute instances inside a GPU instance are checked the same way on the compute-slice
grid when the device lists CI placements, otherwise by slice sum and instance counts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import Counter, namedtuple
from itertools import combinations

from ._errors import InputError, PlacementError
from ._model import Placement
from ._profiles import default_compute_profile

STRATEGIES = ("best-fit", "balanced", "fabric-aware")
DISRUPTIONS = ("minimal", "recreate")

#: A wanted GPU instance: ``profile`` (GpuInstanceProfile), optional fixed ``placement``
#: (Placement) and ``compute_profiles`` (ComputeInstanceProfile tuple; None = the GPU
#: instance's default compute instance, () = no compute instance).
Desired = namedtuple("Desired", ["profile", "placement", "compute_profiles"])
Desired.__new__.__defaults__ = (None, None)

#: Observed start order of NVML's default placement (create without a placement), per
#: (grid units, placement size): the driver takes the first free start in this order.
#: Source reference/mig-profiles.md §4.1. (8, 1): 7x 1g on H100 and A100 -> slots
#: 6,4,5,0,1,2,3 (observed). (8, 2): first 2g at 4 (observed), three 2-slot REV2 on GH200
#: at 4,0,2 (observed), 6 last (inferred). (8, 4): 3g at 0 then 4 (observed). Shapes not
#: listed (e.g. the RTX PRO 12-unit grid) use the order NVML lists placements in
#: (inferred: no observation). Model only: the bench compares strategies against it.
DRIVER_DEFAULT_START_ORDER = {
    (8, 1): (6, 4, 5, 0, 1, 2, 3),
    (8, 2): (4, 0, 2, 6),
    (8, 4): (0, 4),
}

_ENGINE_FIELDS = ("decoder", "encoder", "jpeg", "ofa")
_CACHE_LIMIT = 200000


class Plan(namedtuple("Plan", ["keep", "destroy_compute", "destroy", "create", "create_compute"])):
    """What to do on one GPU, each list in safe execution order (this field order).

    ``keep``: gi ids left in place; ``destroy_compute``: (GpuInstance, ComputeInstance)
    pairs, always before ``destroy``: GpuInstance list; ``create``: (GpuInstanceProfile,
    Placement, compute-instance profile tuple), largest first; ``create_compute``:
    (GpuInstance, ComputeInstanceProfile) for kept GPU instances that lack one.
    """

    __slots__ = ()

    @property
    def is_noop(self):
        return not (self.destroy_compute or self.destroy or self.create or self.create_compute)


def _mask(placement):
    return ((1 << placement.size) - 1) << placement.start


def _placement_of(mask):
    start = (mask & -mask).bit_length() - 1
    return Placement(start, bin(mask).count("1"))


def _engines(profile):
    return tuple(getattr(profile.engines, field) for field in _ENGINE_FIELDS)


def _disjoint_combinations(masks, count, taken=0, first=0):
    """Every choice of ``count`` pairwise disjoint masks (index order, no repeats)."""
    if count == 0:
        yield ()
        return
    for index in range(first, len(masks) - count + 1):
        mask = masks[index]
        if not mask & taken:
            for rest in _disjoint_combinations(masks, count - 1, taken | mask, index + 1):
                yield (mask,) + rest


def _describe(counts_by_name):
    return ", ".join("%s x%d" % (name, count) for name, count in sorted(counts_by_name.items()))


def _busy_gpu_instance(instance):
    return {
        "gi_id": instance.gi_id,
        "profile_id": instance.profile_id,
        "placement": [instance.placement.start, instance.placement.size],
        "processes": list(instance.processes),
    }


class Board(object):
    """Slot masks, limits and engine budget of one profile list, with memoised packing."""

    def __init__(self, profiles):
        self.profiles = tuple(profiles)
        self.by_id = dict((profile.profile_id, profile) for profile in reversed(self.profiles))
        self.grid = max([p.start + p.size for profile in self.profiles for p in profile.placements] or [0])
        self.masks = dict((profile.profile_id, tuple(_mask(p) for p in profile.placements)) for profile in self.profiles)
        full = [
            _engines(profile)
            for profile in self.profiles
            if tuple(profile.placements) == (Placement(0, self.grid),)
        ]
        self.engine_budget = tuple(max(column) for column in zip(*full)) if full else None
        # Capacity order: largest profiles first (best-fit protects them first).
        self._capacity_order = sorted(
            self.profiles,
            key=lambda profile: (-max([p.size for p in profile.placements] or [0]), -profile.slice_count, profile.profile_id),
        )
        self._reachable = {}
        self._scores = {}
        self._fits = {}

    # -- limits -----------------------------------------------------------------------
    def engines_used(self, counts):
        """Sum of DEC/ENC/JPEG/OFA over a {profile_id: count} mapping."""
        total = [0, 0, 0, 0]
        for profile_id, count in counts.items():
            for column, value in enumerate(_engines(self.by_id[profile_id])):
                total[column] += value * count
        return tuple(total)

    def limit_problems(self, counts):
        """Why a {profile_id: count} multiset can never exist on this GPU ([] if it can):
        memory slots first (the resource a too-large layout overruns), then instance counts,
        then media engines."""
        problems = []
        slots = sum(min([p.size for p in self.by_id[profile_id].placements] or [0]) * count for profile_id, count in counts.items())
        if slots > self.grid:
            problems.append("the layout needs %d memory slots but the GPU has %d" % (slots, self.grid))
        for profile_id, count in sorted(counts.items()):
            profile = self.by_id[profile_id]
            if count > profile.instance_count:
                problems.append(
                    "%d x %s wanted but the GPU allows at most %d" % (count, profile.name, profile.instance_count)
                )
        if self.engine_budget is not None:
            used = self.engines_used(counts)
            for field, need, have in zip(_ENGINE_FIELDS, used, self.engine_budget):
                if need > have:
                    problems.append(
                        "the layout needs %d %s engines but the GPU has %d (media-engine variants such as "
                        "+me and +me.all exclude each other)" % (need, field.upper() if field == "ofa" else field, have)
                    )
        return problems

    # -- packing ----------------------------------------------------------------------
    def fits(self, counts, occupied=0, existing=None):
        """True when a {profile_id: count} multiset can be added to a GPU.

        ``occupied`` is the slot mask and ``existing`` the {profile_id: count} of the
        instances already there (they count towards instance and engine limits).
        """
        existing = existing or {}
        key = (occupied, tuple(sorted(existing.items())), tuple(sorted((p, n) for p, n in counts.items() if n)))
        fits = self._fits.get(key)
        if fits is None:
            total = Counter(existing)
            total.update(counts)
            fits = not self.limit_problems(total)
            if fits:
                shapes = Counter()
                for profile_id, count in counts.items():
                    shapes[self.masks[profile_id]] += count
                fits = bool(self.reachable(occupied, _sorted_shapes(shapes)))
            if len(self._fits) > _CACHE_LIMIT:
                self._fits.clear()
            self._fits[key] = fits
        return fits

    def reachable(self, occupied, shapes):
        """{final occupancy mask: picks} for placing a sorted tuple of (masks, count).

        ``picks`` holds, per shape, the tuple of masks chosen for it. Empty when the
        shapes cannot be placed around ``occupied``.
        """
        key = (occupied, shapes)
        states = self._reachable.get(key)
        if states is not None:
            return states
        states = {occupied: ()}
        for masks, count in shapes:
            following = {}
            for state, picks in states.items():
                free = [mask for mask in masks if not mask & state]
                for combo in _disjoint_combinations(free, count):
                    union = state
                    for mask in combo:
                        union |= mask
                    if union not in following:
                        following[union] = picks + (combo,)
            states = following
            if not states:
                break
        if len(self._reachable) > _CACHE_LIMIT:
            self._reachable.clear()
        self._reachable[key] = states
        return states

    def remaining_capacity(self, occupied, counts):
        """{profile_id: how many more could be created} after ``occupied``/``counts``."""
        engines = self.engines_used(counts)
        capacity = {}
        for profile in self.profiles:
            left = profile.instance_count - counts.get(profile.profile_id, 0)
            if self.engine_budget is not None:
                for need, used, have in zip(_engines(profile), engines, self.engine_budget):
                    if need:
                        left = min(left, (have - used) // need)
            fitted, taken = 0, occupied
            for mask in sorted(self.masks[profile.profile_id], key=lambda m: m.bit_length()):
                if fitted >= left:
                    break
                if not mask & taken:
                    taken |= mask
                    fitted += 1
            capacity[profile.profile_id] = max(0, min(left, fitted))
        return capacity

    def headroom(self, occupied, counts):
        """Best-fit score: remaining capacity per profile, largest profile first."""
        key = (occupied, tuple(sorted(counts.items())))
        score = self._scores.get(key)
        if score is None:
            capacity = self.remaining_capacity(occupied, counts)
            score = tuple(capacity[profile.profile_id] for profile in self._capacity_order)
            if len(self._scores) > _CACHE_LIMIT:
                self._scores.clear()
            self._scores[key] = score
        return score

    def assign(self, occupied, items, counts, strategy, instance_masks=()):
        """Placements (list, one per item) for (profile, fixed Placement or None) items.

        ``counts`` is the {profile_id: count} of everything on the GPU afterwards;
        ``instance_masks`` the masks of instances staying in place (spread score).
        Returns None when no valid placement exists.
        """
        by_shape = {}
        for index, (profile, fixed) in enumerate(items):
            masks = (_mask(fixed),) if fixed is not None else self.masks[profile.profile_id]
            by_shape.setdefault(masks, []).append(index)
        shapes = _sorted_shapes(dict((masks, len(indexes)) for masks, indexes in by_shape.items()))
        states = self.reachable(occupied, shapes)
        if not states:
            return None

        def score(final):
            headroom = self.headroom(final, counts)
            if strategy != "balanced":
                return (headroom, final)
            placed = list(instance_masks) + [mask for combo in states[final] for mask in combo]
            return (_smallest_gap(placed), headroom, final)

        final = max(states, key=score)
        placements = [None] * len(items)
        for (masks, _count), combo in zip(shapes, states[final]):
            for index, mask in zip(by_shape[masks], sorted(combo)):
                placements[index] = _placement_of(mask)
        return placements


def _sorted_shapes(counts_by_shape):
    """Canonical (masks, count) tuple: fewest options and widest shapes first (small DP)."""
    return tuple(
        sorted(
            counts_by_shape.items(),
            key=lambda shape: (len(shape[0]), -bin(shape[0][0]).count("1"), shape[0]),
        )
    )


def _smallest_gap(masks):
    """Smallest number of free units between neighbouring instances (grid-size if < 2)."""
    if len(masks) < 2:
        return 0
    spans = sorted(_placement_of(mask) for mask in masks)
    return min(later.start - (earlier.start + earlier.size) for earlier, later in zip(spans, spans[1:]))


_BOARDS = {}


def board_for(profiles):
    """The (cached) Board of a profile list."""
    key = tuple(profiles)
    try:
        board = _BOARDS.get(key)
    except TypeError:  # unhashable fields (lists): no caching
        return Board(profiles)
    if board is None:
        if len(_BOARDS) > 1000:
            _BOARDS.clear()
        board = _BOARDS[key] = Board(profiles)
    return board


def _check_choice(option, value, choices):
    if value not in choices:
        raise InputError(option, value, "unknown value", choices)


def compute_profiles_of(item):
    """The compute-instance profiles an item asks for (its GI's default when None)."""
    if item.compute_profiles is not None:
        return tuple(item.compute_profiles)
    default = default_compute_profile(item.profile)
    return (default,) if default is not None else ()


def _check_item(board, item):
    profile = item.profile
    if board.by_id.get(profile.profile_id) != profile:
        raise InputError("profile", profile.name, "not a profile of this GPU", [p.name for p in board.profiles])
    if item.placement is not None and tuple(item.placement) not in [tuple(p) for p in profile.placements]:
        raise InputError(
            "placement",
            "%d:%d" % tuple(item.placement),
            "not a placement of %s" % profile.name,
            ["%d:%d" % tuple(p) for p in profile.placements],
        )
    _check_compute_fit(profile, compute_profiles_of(item))


def _compute_pack(gpu_profile, compute_profiles, kept=()):
    """True when the CI profiles fit next to ``kept`` (ComputeInstance) in one GI."""
    wanted = Counter(ci.profile_id for ci in compute_profiles)
    wanted.update(ci.profile_id for ci in kept)
    by_id = dict((ci.profile_id, ci) for ci in gpu_profile.compute_profiles)
    for profile_id, count in wanted.items():
        if profile_id in by_id and count > by_id[profile_id].instance_count:
            return False
    slices = sum(ci.slice_count for ci in compute_profiles) + sum(ci.placement.size for ci in kept)
    if slices > gpu_profile.slice_count:
        return False
    if not all(ci.placements for ci in compute_profiles):
        return True
    occupied = 0
    for ci in kept:
        occupied |= _mask(ci.placement)
    by_shape = Counter(tuple(_mask(p) for p in ci.placements) for ci in compute_profiles)
    states = {occupied}
    for masks, count in sorted(by_shape.items(), key=lambda shape: len(shape[0])):
        following = set()
        for state in states:
            for combo in _disjoint_combinations([m for m in masks if not m & state], count):
                union = state
                for mask in combo:
                    union |= mask
                following.add(union)
        states = following
    return bool(states)


def _check_compute_fit(gpu_profile, compute_profiles):
    offered = dict((ci.profile_id, ci) for ci in gpu_profile.compute_profiles)
    for ci in compute_profiles:
        if offered.get(ci.profile_id) != ci:
            raise InputError(
                "compute_profiles",
                ci.name,
                "not a compute-instance profile of %s" % gpu_profile.name,
                [c.name for c in gpu_profile.compute_profiles],
            )
    if not _compute_pack(gpu_profile, compute_profiles):
        raise PlacementError(
            "compute instances %s do not fit into one %s GPU instance (%d compute slices)"
            % (_describe(Counter(ci.name for ci in compute_profiles)), gpu_profile.name, gpu_profile.slice_count)
        )


def _usage(board, instances):
    """(occupied mask, {profile_id: count}, masks) of instances; unknown profiles only occupy."""
    occupied, counts, masks = 0, Counter(), []
    for instance in instances:
        mask = _mask(instance.placement)
        occupied |= mask
        masks.append(mask)
        if instance.profile_id in board.by_id:
            counts[instance.profile_id] += 1
    return occupied, counts, masks


def _raise_limits(board, counts, what):
    problems = board.limit_problems(counts)
    if problems:
        raise PlacementError("%s cannot exist on this GPU: %s" % (what, "; ".join(problems)))


def place(profiles, desired, existing=(), strategy="best-fit"):
    """Placements for ``desired`` (Desired list) next to ``existing`` GpuInstances.

    Returns [(Desired, Placement)] in input order. Raises PlacementError when no valid
    placement exists (exact), InputError for a placement or profile the GPU does not offer.
    """
    _check_choice("placement_strategy", strategy, STRATEGIES)
    board = board_for(profiles)
    desired = list(desired)
    for item in desired:
        _check_item(board, item)
    occupied, counts, masks = _usage(board, existing)
    counts.update(item.profile.profile_id for item in desired)
    layout = _describe(Counter(item.profile.name for item in desired))
    _raise_limits(board, counts, "layout %s%s" % (layout, " next to the existing instances" if existing else ""))
    placements = board.assign(occupied, [(item.profile, item.placement) for item in desired], counts, strategy, masks)
    if placements is None:
        free = board.grid - bin(occupied).count("1")
        raise PlacementError(
            "no valid placement exists for %s (%d of %d memory slots free)" % (layout, free, board.grid)
        )
    return list(zip(desired, placements))


def driver_default_order(profiles, desired, existing=()):
    """Model of creating ``desired`` in order without placements (see DRIVER_DEFAULT_START_ORDER).

    Returns [(Desired, Placement)]; raises PlacementError where the driver would answer
    INSUFFICIENT_RESOURCES. Items with a fixed placement keep it.
    """
    board = board_for(profiles)
    occupied, counts, _masks = _usage(board, existing)
    result = []
    for item in desired:
        profile = item.profile
        counts[profile.profile_id] += 1
        if board.limit_problems(counts):
            raise PlacementError("driver order: %s refused (instance count or media engines)" % profile.name)
        if item.placement is not None:
            order = [item.placement]
        else:
            by_start = dict((p.start, p) for p in profile.placements)
            preferred = DRIVER_DEFAULT_START_ORDER.get((board.grid, max(p.size for p in profile.placements)), ())
            order = [by_start[start] for start in preferred if start in by_start]
            order += [p for p in profile.placements if p not in order]
        chosen = next((p for p in order if not _mask(p) & occupied), None)
        if chosen is None:
            raise PlacementError("driver order: no free placement left for %s" % profile.name)
        occupied |= _mask(chosen)
        result.append((item, chosen))
    return result


def _match(kept, fixed, floating):
    """Map kept GpuInstances to wanted item indexes: {gi_id: index}, or None if one has no match."""
    fixed = dict((key, list(indexes)) for key, indexes in fixed.items())
    floating = dict((key, list(indexes)) for key, indexes in floating.items())
    mapping = {}
    for instance in kept:
        slot = fixed.get((instance.profile_id, tuple(instance.placement)))
        pool = slot if slot else floating.get(instance.profile_id)
        if not pool:
            return None
        mapping[instance.gi_id] = pool.pop(0)
    return mapping


def plan(profiles, current_instances, desired, force=False, strategy="best-fit", disruption="minimal"):
    """Turn the GPU's ``current_instances`` into the ``desired`` layout (complete list).

    ``disruption="minimal"`` keeps the largest possible set of existing GPU instances in
    place (ties: more busy ones kept, more compute instances already right, then more
    remaining capacity); ``"recreate"`` destroys everything unless the layout is already
    exactly right (mig-parted's behaviour, still idempotent). Instances with processes
    are never destroyed unless ``force``; PlacementError names them (``blocking``) when
    the layout needs them gone. Returns a Plan.
    """
    _check_choice("placement_strategy", strategy, STRATEGIES)
    _check_choice("disruption", disruption, DISRUPTIONS)
    board = board_for(profiles)
    desired = list(desired)
    for item in desired:
        _check_item(board, item)
    counts = Counter(item.profile.profile_id for item in desired)
    _raise_limits(board, counts, "layout %s" % _describe(Counter(item.profile.name for item in desired)))
    current = sorted(current_instances, key=lambda instance: instance.gi_id)

    fixed, floating = {}, {}
    for index, item in enumerate(desired):
        if item.placement is not None:
            fixed.setdefault((item.profile.profile_id, tuple(item.placement)), []).append(index)
        else:
            floating.setdefault(item.profile.profile_id, []).append(index)

    def keepable(instance):
        return (instance.profile_id, tuple(instance.placement)) in fixed or instance.profile_id in floating

    def solve(kept):
        mapping = _match(kept, fixed, floating)
        if mapping is None:
            return None
        occupied, _counts, masks = _usage(board, kept)
        rest = [index for index in range(len(desired)) if index not in mapping.values()]
        placements = board.assign(
            occupied, [(desired[i].profile, desired[i].placement) for i in rest], counts, strategy, masks
        )
        if placements is None:
            return None
        return mapping, list(zip(rest, placements)), board.headroom(occupied | _or(placements), counts)

    candidates = [instance for instance in current if keepable(instance)]
    busy = [instance for instance in current if instance.processes]
    solution = _best_subset(candidates, busy if not force else [], solve, desired)
    if solution is None:
        if force or not busy or _best_subset(candidates, [], solve, desired) is None:
            raise PlacementError("no valid placement exists for %s" % _describe(Counter(i.profile.name for i in desired)))
        blocking = _blocking(candidates, busy, solve, desired)
        raise PlacementError(
            "the wanted layout cannot be reached without destroying GPU instances that run processes "
            "(gi %s); stop them or use force" % ", ".join(str(instance.gi_id) for instance in blocking),
            blocking=[_busy_gpu_instance(instance) for instance in blocking],
        )
    kept, (mapping, new, _score) = solution
    result = _plan_from(board, current, desired, kept, mapping, new, force)
    if disruption == "recreate" and not result.is_noop:
        result = _recreate(board, current, desired, counts, strategy, force)
    return result


def _or(placements):
    occupied = 0
    for placement in placements:
        occupied |= _mask(placement)
    return occupied


def _best_subset(candidates, mandatory, solve, desired):
    """Largest feasible subset of ``candidates`` containing ``mandatory``; -> (kept, solved)."""
    mandatory_ids = set(instance.gi_id for instance in mandatory)
    if any(instance not in candidates for instance in mandatory):
        return None
    optional = [instance for instance in candidates if instance.gi_id not in mandatory_ids]
    base = [instance for instance in candidates if instance.gi_id in mandatory_ids]
    for size in range(len(optional), -1, -1):
        best = None
        for chosen in combinations(optional, size):
            kept = sorted(base + list(chosen), key=lambda instance: instance.gi_id)
            solved = solve(kept)
            if solved is None:
                continue
            mapping = solved[0]
            key = (
                sum(1 for instance in kept if instance.processes),
                sum(1 for instance in kept if _compute_ready(instance, desired[mapping[instance.gi_id]])),
                solved[2],
            )
            if best is None or key > best[0]:
                best = (key, kept, solved)
        if best is not None:
            return best[1], best[2]
    return None


def _blocking(candidates, busy, solve, desired):
    """Busy instances the layout cannot keep: those left out by the most-busy-keeping plan."""
    keepable = [instance for instance in busy if instance in candidates]
    for size in range(len(keepable), -1, -1):
        for chosen in combinations(keepable, size):
            if _best_subset(candidates, list(chosen), solve, desired) is not None:
                kept_ids = set(instance.gi_id for instance in chosen)
                return [instance for instance in busy if instance.gi_id not in kept_ids]
    return busy


def _compute_ready(instance, item):
    have = sorted(ci.profile_id for ci in instance.compute_instances)
    return have == sorted(ci.profile_id for ci in compute_profiles_of(item))


def _plan_compute(instance, item):
    """(CIs to destroy, CI profiles to create) to give a kept GI the item's CIs."""
    wanted = list(compute_profiles_of(item))
    keep, destroy = [], []
    for ci in sorted(instance.compute_instances, key=lambda ci: ci.ci_id):
        match = next((profile for profile in wanted if profile.profile_id == ci.profile_id), None)
        if match is not None:
            wanted.remove(match)
            keep.append(ci)
        else:
            destroy.append(ci)
    if not _compute_pack(item.profile, wanted, keep):
        return list(instance.compute_instances), list(compute_profiles_of(item))
    return destroy, wanted


def _plan_from(board, current, desired, kept, mapping, new, force):
    kept_ids = set(instance.gi_id for instance in kept)
    destroy = [instance for instance in current if instance.gi_id not in kept_ids]
    destroy_compute = [(instance, ci) for instance in destroy for ci in instance.compute_instances]
    create_compute, blocking = [], []
    for instance in kept:
        remove, add = _plan_compute(instance, desired[mapping[instance.gi_id]])
        for ci in remove:
            destroy_compute.append((instance, ci))
            if ci.processes and not force:
                blocking.append(dict(gi_id=instance.gi_id, ci_id=ci.ci_id, processes=list(ci.processes)))
        create_compute.extend((instance, profile) for profile in add)
    if blocking:
        raise PlacementError(
            "the wanted compute instances need compute instances with processes destroyed (%s); stop them "
            "or use force" % ", ".join("gi %(gi_id)s ci %(ci_id)s" % entry for entry in blocking),
            blocking=blocking,
        )
    create = sorted(
        ((desired[index].profile, placement, compute_profiles_of(desired[index])) for index, placement in new),
        key=lambda entry: (-entry[1].size, entry[1].start),
    )
    return Plan(
        keep=tuple(sorted(kept_ids)),
        destroy_compute=tuple(destroy_compute),
        destroy=tuple(destroy),
        create=tuple(create),
        create_compute=tuple(create_compute),
    )


def _recreate(board, current, desired, counts, strategy, force):
    busy = [instance for instance in current if instance.processes]
    if busy and not force:
        raise PlacementError(
            "disruption=recreate destroys every GPU instance, and gi %s run processes; stop them or use force"
            % ", ".join(str(instance.gi_id) for instance in busy),
            blocking=[_busy_gpu_instance(instance) for instance in busy],
        )
    placements = board.assign(0, [(item.profile, item.placement) for item in desired], counts, strategy)
    if placements is None:
        raise PlacementError("no valid placement exists for %s" % _describe(Counter(i.profile.name for i in desired)))
    return _plan_from(board, current, desired, [], {}, list(enumerate(placements)), force)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet planning: place a demand list across many hosts and GPUs (engine of mig_plan).

Input
  ``gpus``: plain dicts ``{host, index, uuid, architecture, profiles, instances,
  fabric_partition}`` where ``profiles`` is the GpuInstanceProfile list and
  ``instances`` the GpuInstance list of the GPU, ``architecture`` the NVML id and
  ``fabric_partition`` the id of the NVSwitch partition the GPU belongs to (None: none).
  ``demand``: ``{profile: name, count}`` or ``{requirements: {memory_gb, compute_slices,
  media_engines}, count}`` items.

Rules
  * the demand is the wanted state: existing instances that match a demand item are kept
    and count towards it; other existing instances are listed under ``remove``;
  * a GPU whose architecture has no MIG is excluded, and so is a GPU in a multi-GPU fabric
    partition where the architecture does not allow MIG there (Ampere);
  * a name resolves per GPU (``_profiles.resolve``), requirements are selected per GPU
    (``_selection.rank``; fabric-partition GPUs prefer single-slice profiles on Hopper+);
  * demand items are placed largest first. ``best-fit`` puts an item on the GPUs where it
    takes the smallest share of the GPU (the board it suits best), partly used GPUs
    before empty ones, filling each GPU before the next: whole GPUs stay free;
    ``balanced`` gives each instance to the least-loaded GPU (share of its grid used)
    that fits it; ``fabric-aware`` is best-fit where the GPUs of one fabric partition
    move together: each gets the same instances (a partition takes instances in
    multiples of its size), so their layouts stay uniform;
  * placements on each GPU are exact (``_placement``); the result is deterministic: GPUs
    are taken in (host, index) order and nothing depends on hash order.

Result: ``{"strategy", "gpus": [per GPU: host, index, uuid, architecture,
fabric_partition, layout [{profile, placement {start, size}, compute_profile, demand,
existing gi_id or None}], remove [gi ids], changed], "excluded": [{host, index, uuid,
reason}], "unplaced": [{demand, count, reason}], "placed": int}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
from collections import Counter

from ._capabilities import capabilities_for
from ._errors import InputError, MigError
from ._placement import STRATEGIES, Desired, board_for, place
from ._profiles import default_compute_profile, parse, resolve
from ._selection import (
    REQUIREMENT_KEYS,
    SHARING_STRATEGIES,
    normalise_requirement,
    rank,
)


class _Gpu(object):
    """Planning state of one GPU: what stays, what is added, memoised fit checks."""

    __slots__ = ("spec", "order", "board", "capabilities", "kept", "kept_counts", "occupied", "added", "added_counts", "load")

    def __init__(self, spec, order, capabilities):
        self.spec = spec
        self.order = order
        self.board = board_for(spec["profiles"])
        self.capabilities = capabilities
        self.kept = []  # (GpuInstance, demand index)
        self.kept_counts = Counter()
        self.occupied = 0
        self.added = []  # (GpuInstanceProfile, demand index)
        self.added_counts = Counter()
        self.load = 0

    def keep(self, instance, demand_index):
        self.kept.append((instance, demand_index))
        self.kept_counts[instance.profile_id] += 1
        self.occupied |= ((1 << instance.placement.size) - 1) << instance.placement.start
        self.load += instance.placement.size / float(self.board.grid)

    def fits(self, profile, extra=1):
        """True when ``extra`` more instances of ``profile`` can be added."""
        counts = Counter(self.added_counts)
        counts[profile.profile_id] += extra
        return self.board.fits(counts, self.occupied, self.kept_counts)

    def add(self, profile, demand_index, count=1):
        self.added.extend([(profile, demand_index)] * count)
        self.added_counts[profile.profile_id] += count
        self.load += count * _footprint(self, profile)


def _validate(demand, strategy, sharing_strategy):
    if strategy not in STRATEGIES:
        raise InputError("placement_strategy", strategy, "unknown value", STRATEGIES)
    if sharing_strategy not in SHARING_STRATEGIES:
        raise InputError("sharing_strategy", sharing_strategy, "unknown value", SHARING_STRATEGIES)
    if not demand:
        raise InputError("demand", demand, "must list at least one item with profile or requirements",
                         ["profile", "requirements"])
    items = []
    for index, item in enumerate(demand):
        option = "demand[%d]" % index
        if not isinstance(item, dict) or ("profile" in item) == ("requirements" in item):
            raise InputError(option, item, "give exactly one of profile or requirements, and count", ["profile", "requirements"])
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(option + ".count", count, "must be a whole number >= 1")
        if "profile" in item:
            parse(item["profile"], option + ".profile")
            items.append({"profile": item["profile"], "count": count})
        else:
            requirement = item["requirements"]
            if isinstance(requirement, dict):  # the item's count is the count
                requirement = dict((key, value) for key, value in requirement.items() if key != "count")
                given = dict((key, value) for key, value in requirement.items() if value is not None)
                if not given:
                    raise InputError(option + ".requirements", given, "name at least one requirement",
                                     [key for key in REQUIREMENT_KEYS if key != "count"])
            items.append({"requirements": normalise_requirement(requirement, option + ".requirements"), "count": count})
    return items


def _exclusion(spec, capabilities, partition_sizes):
    if not capabilities.mig_supported:
        return "%s GPUs do not support MIG" % capabilities.name
    partition = spec.get("fabric_partition")
    if (
        partition is not None
        and partition_sizes[(spec["host"], partition)] > 1
        and not capabilities.mig_allowed_in_multi_gpu_partitions
    ):
        return "MIG-enabled %s GPUs cannot be part of the multi-GPU fabric partition %s" % (capabilities.name, partition)
    if not spec.get("profiles"):
        return "the GPU reports no MIG profiles"
    return None


def _resolver(sharing_strategy):
    """resolve(gpu, item) -> GpuInstanceProfile or None, memoised per board and context."""
    cache = {}

    def resolve_on(gpu, index, item):
        uses_fabric = gpu.spec.get("fabric_partition") is not None
        key = (id(gpu.board), gpu.capabilities.architecture, uses_fabric, index)
        if key not in cache:
            profile = None
            try:
                if "profile" in item:
                    profile = resolve(item["profile"], gpu.board.profiles)[0]
                else:
                    requirement = dict(item["requirements"], count=1)
                    ranked = rank(gpu.board.profiles, requirement, gpu.capabilities, sharing_strategy, uses_fabric)
                    profile = ranked[0] if ranked else None
            except MigError:
                profile = None
            cache[key] = profile
        return cache[key]

    return resolve_on


def plan_fleet(gpus, demand, strategy="best-fit", sharing_strategy="none"):
    """Place ``demand`` on ``gpus`` (see the module docstring for formats and rules)."""
    items = _validate(demand, strategy, sharing_strategy)
    specs = sorted(gpus, key=lambda spec: (str(spec["host"]), int(spec["index"])))
    partition_sizes = Counter(
        (spec["host"], spec.get("fabric_partition")) for spec in specs if spec.get("fabric_partition") is not None
    )
    planned, excluded = [], []
    for order, spec in enumerate(specs):
        capabilities = capabilities_for(spec["architecture"])
        reason = _exclusion(spec, capabilities, partition_sizes)
        if reason:
            excluded.append({"host": spec["host"], "index": spec["index"], "uuid": spec.get("uuid"), "reason": reason})
        else:
            planned.append(_Gpu(spec, order, capabilities))
    resolve_on = _resolver(sharing_strategy)
    need = [item["count"] for item in items]

    # Existing instances that match a demand item stay and count towards it.
    for gpu in planned:
        for instance in sorted(gpu.spec.get("instances") or (), key=lambda instance: instance.gi_id):
            for index, item in enumerate(items):
                profile = resolve_on(gpu, index, item)
                if need[index] and profile is not None and profile.profile_id == instance.profile_id:
                    gpu.keep(instance, index)
                    need[index] -= 1
                    break

    reasons = {}
    order = _largest_first(planned, items, resolve_on)
    if strategy == "balanced":
        _balanced(planned, items, order, need, resolve_on)
    elif strategy == "fabric-aware":
        _fabric_aware(planned, items, order, need, resolve_on, reasons)
    else:
        _fill(planned, items, order, need, resolve_on)
    return _result(planned, excluded, items, need, strategy, resolve_on, reasons)


def _footprint(gpu, profile):
    """Fraction of the GPU's placement grid one instance of ``profile`` occupies."""
    return min(p.size for p in profile.placements) / float(gpu.board.grid)


def _largest_first(planned, items, resolve_on):
    """Demand indexes by decreasing footprint (first GPU that offers them), then input order."""

    def footprint(index):
        for gpu in planned:
            profile = resolve_on(gpu, index, items[index])
            if profile is not None:
                return -_footprint(gpu, profile)
        return 0

    return sorted(range(len(items)), key=lambda index: (footprint(index), index))


def _fill_gpus(members, index, item, need, resolve_on):
    """Give every GPU of ``members`` the same number of instances, as many as fit and are needed."""
    lead = members[0]
    profile = resolve_on(lead, index, item)
    per_gpu = 0
    while need[index] >= len(members) * (per_gpu + 1) and lead.fits(profile, per_gpu + 1):
        per_gpu += 1
    for gpu in members:
        gpu.add(profile, index, per_gpu)
    need[index] -= per_gpu * len(members)
    return per_gpu


def _by_efficiency(units, index, item, resolve_on):
    """Units (lists of GPUs) that offer the item: smallest footprint, used ones, larger, first."""
    ranked = []
    for members in units:
        profile = resolve_on(members[0], index, item)
        if profile is not None:
            used = any(gpu.kept or gpu.added for gpu in members)
            ranked.append(((_footprint(members[0], profile), not used, -len(members), members[0].order), members))
    return [members for _key, members in sorted(ranked, key=lambda entry: entry[0])]


def _fill(gpus, items, order, need, resolve_on):
    """Best-fit: per item, GPUs where it takes the smallest share first, used GPUs before empty ones."""
    units = [[gpu] for gpu in gpus]
    for index in order:
        for members in _by_efficiency(units, index, items[index], resolve_on):
            if not need[index]:
                break
            _fill_gpus(members, index, items[index], need, resolve_on)


def _balanced(gpus, items, order, need, resolve_on):
    """Balanced: each instance goes to the least-loaded GPU (share of its grid used) that fits it."""
    for index in order:
        heap = [(gpu.load, gpu.order, gpu) for gpu in gpus if resolve_on(gpu, index, items[index]) is not None]
        heapq.heapify(heap)
        while need[index] and heap:
            _load, _order, gpu = heapq.heappop(heap)
            profile = resolve_on(gpu, index, items[index])
            if gpu.fits(profile):
                gpu.add(profile, index)
                need[index] -= 1
                heapq.heappush(heap, (gpu.load, gpu.order, gpu))


def _fabric_aware(gpus, items, order, need, resolve_on, reasons):
    """Best-fit over units where a unit is a fabric partition (same layout on every GPU) or one GPU."""
    groups = {}
    for gpu in gpus:
        partition = gpu.spec.get("fabric_partition")
        key = (str(gpu.spec["host"]), partition, id(gpu.board)) if partition is not None else ("", gpu.order)
        groups.setdefault(key, []).append(gpu)
    units = sorted(groups.values(), key=lambda members: members[0].order)
    for index in order:
        for members in _by_efficiency(units, index, items[index], resolve_on):
            if not need[index]:
                break
            if not _fill_gpus(members, index, items[index], need, resolve_on) and 0 < need[index] < len(members):
                if members[0].fits(resolve_on(members[0], index, items[index])):
                    reasons[index] = (
                        "fabric-aware keeps the GPUs of a fabric partition uniform; the rest is smaller "
                        "than the partitions that still have room"
                    )


def _placements(gpu, strategy):
    """Exact placements of the instances added to a GPU, next to those it keeps."""
    existing = [instance for instance, _index in gpu.kept]
    desired = [Desired(profile) for profile, _index in gpu.added]
    return [placement for _item, placement in place(gpu.board.profiles, desired, existing, strategy)]


def _result(planned, excluded, items, need, strategy, resolve_on, reasons):
    placement_cache = {}
    entries, placed = [], 0
    for gpu in planned:
        signature = (
            id(gpu.board),
            tuple((i.profile_id, tuple(i.placement)) for i, _x in gpu.kept),
            tuple(p.profile_id for p, _x in gpu.added),
        )
        if signature not in placement_cache:
            placement_cache[signature] = _placements(gpu, strategy) if gpu.added else []
        layout = []
        for instance, index in gpu.kept:
            profile = gpu.board.by_id[instance.profile_id]
            layout.append(_layout_entry(profile, instance.placement, index, instance.gi_id))
        for (profile, index), placement in zip(gpu.added, placement_cache[signature]):
            layout.append(_layout_entry(profile, placement, index, None))
        placed += len(gpu.added)
        kept_ids = set(instance.gi_id for instance, _index in gpu.kept)
        remove = sorted(instance.gi_id for instance in gpu.spec.get("instances") or () if instance.gi_id not in kept_ids)
        spec = gpu.spec
        entries.append(
            {
                "host": spec["host"],
                "index": spec["index"],
                "uuid": spec.get("uuid"),
                "architecture": gpu.capabilities.name,
                "fabric_partition": spec.get("fabric_partition"),
                "layout": sorted(layout, key=lambda entry: entry["placement"]["start"]),
                "remove": remove,
                "changed": bool(gpu.added or remove),
            }
        )
    unplaced = []
    for index, item in enumerate(items):
        if need[index]:
            unplaced.append(
                {
                    "demand": index,
                    "count": need[index],
                    "reason": _unplaced_reason(planned, index, item, need, resolve_on, reasons),
                }
            )
    return {"strategy": strategy, "gpus": entries, "excluded": excluded, "unplaced": unplaced, "placed": placed}


def _layout_entry(profile, placement, index, gi_id):
    compute = default_compute_profile(profile)
    return {
        "profile": profile.name,
        "placement": {"start": placement.start, "size": placement.size},
        "compute_profile": compute.name if compute is not None else None,
        "demand": index,
        "existing": gi_id,
    }


def _unplaced_reason(planned, index, item, need, resolve_on, reasons):
    wanted = item.get("profile") or "requirements %s" % ", ".join(
        "%s=%s" % (key, item["requirements"][key]) for key in ("memory_gb", "compute_slices", "media_engines")
    )
    if not any(resolve_on(gpu, index, item) is not None for gpu in planned):
        return "no eligible GPU offers %s" % wanted
    if index in reasons:
        return reasons[index]
    placed = item["count"] - need[index]
    return "no capacity left for %s: %d of %d placed" % (wanted, placed, item["count"])

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requirement-based profile selection for one GPU.

A requirement item is ``{memory_gb, compute_slices, media_engines, count}`` (defaults 0,
1, false, 1; the normalised item also records ``compute_slices_given``). A profile
satisfies it when its advertised memory (the "Mgb" of its name)
is at least ``memory_gb``, it has at least ``compute_slices`` compute slices, and, with
``media_engines: true``, it carries every media-engine kind the GPU has (DEC, ENC, JPEG,
OFA where the GPU has any: the ``+me`` / ``+me.all`` variants).

Score of a satisfying profile, compared in this order (smaller wins):

1. memory footprint: memory slots one instance occupies (never reserve more memory
   than the smallest fitting profile does);
2. sharing strategy: ``time-slicing`` prefers fewer compute slices (many small replicas),
   ``mps`` more (one larger instance shared concurrently), ``none`` no preference;
3. architecture preference (``_capabilities``): with fabric partitions on Hopper and
   later, compute slices above 1; otherwise the distance from the architecture's
   preferred slice range (Ampere 2-4, for balance);
4. compute slices: when the item names ``compute_slices``, the fewest beyond it (a
   "3g-class" item gets 3g.40gb, not 4g.40gb on the same memory slots); when it names
   memory only, the most compute for that memory (2g.20gb over 1g.20gb);
5. more placement options;
6. with ``media_engines`` false: holding an OFA engine (do not burn the GPU's single
   ``+me`` / ``+me.all`` instance on a workload that does not need it);
7. fewer name attributes, then the lower profile id.

Items are then combined: the combination with the best summed ranks whose multiset can
exist on the GPU (instance counts, media engines, exact placement) wins. Impossible
requirements fail with the closest feasible alternative in the message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import Counter
from itertools import product

from ._errors import InputError
from ._placement import board_for
from ._profiles import parse

SHARING_STRATEGIES = ("none", "time-slicing", "mps")
REQUIREMENT_KEYS = ("memory_gb", "compute_slices", "media_engines", "count")
_MEDIA_FIELDS = ("decoder", "encoder", "jpeg", "ofa")
_MAX_COMBINATIONS = 20000


def normalise_requirement(item, option="requirements"):
    """Validated copy of one requirement item with defaults filled in."""
    if not isinstance(item, dict):
        raise InputError(option, item, "each requirement is a mapping", REQUIREMENT_KEYS)
    unknown = sorted(set(item) - set(REQUIREMENT_KEYS))
    if unknown:
        raise InputError(option, item, "unknown key %r" % unknown[0], REQUIREMENT_KEYS)
    result = {"memory_gb": 0, "compute_slices": 1, "media_engines": False, "count": 1}
    result.update(dict((key, value) for key, value in item.items() if value is not None))
    result["compute_slices_given"] = item.get("compute_slices") is not None
    for key, minimum in (("memory_gb", 0), ("compute_slices", 1), ("count", 1)):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise InputError("%s.%s" % (option, key), value, "must be a number >= %d" % minimum)
    if not isinstance(result["media_engines"], bool):
        raise InputError("%s.media_engines" % option, result["media_engines"], "must be true or false", [True, False])
    if int(result["count"]) != result["count"] or int(result["compute_slices"]) != result["compute_slices"]:
        raise InputError(option, item, "count and compute_slices must be whole numbers")
    return result


def _media_kinds(profiles):
    return [field for field in _MEDIA_FIELDS if any(getattr(p.engines, field) for p in profiles)]


def _satisfies(profile, requirement, media_kinds):
    if parse(profile.name).memory_gb < requirement["memory_gb"]:
        return False
    if profile.slice_count < requirement["compute_slices"]:
        return False
    if requirement["media_engines"]:
        return all(getattr(profile.engines, field) for field in media_kinds)
    return True


def _rank_key(profile, requirement, capabilities, sharing_strategy, uses_fabric_partitions):
    slices = profile.slice_count
    sharing = {"time-slicing": slices, "mps": -slices}.get(sharing_strategy, 0)
    if uses_fabric_partitions and capabilities.prefers_single_slice_with_fabric:
        architecture = slices - 1
    elif capabilities.preferred_slice_range:
        low, high = capabilities.preferred_slice_range
        architecture = max(low - slices, slices - high, 0)
    else:
        architecture = 0
    unneeded_ofa = 0 if requirement["media_engines"] else profile.engines.ofa
    return (
        min(p.size for p in profile.placements),
        sharing,
        architecture,
        slices - requirement["compute_slices"] if requirement["compute_slices_given"] else -slices,
        -len(profile.placements),
        unneeded_ofa,
        len(parse(profile.name).attributes),
        profile.profile_id,
    )


def rank(profiles, requirement, capabilities, sharing_strategy="none", uses_fabric_partitions=False):
    """Profiles satisfying one (normalised) requirement, best first (see module docstring)."""
    media_kinds = _media_kinds(profiles)
    candidates = [p for p in profiles if p.placements and _satisfies(p, requirement, media_kinds)]
    return sorted(
        candidates,
        key=lambda p: _rank_key(p, requirement, capabilities, sharing_strategy, uses_fabric_partitions),
    )


def _closest(profiles, requirement):
    """The profile missing the requirement by the least (relative shortfall), for messages."""

    def shortfall(profile):
        memory = parse(profile.name).memory_gb
        missing = max(0.0, requirement["memory_gb"] - memory) / max(requirement["memory_gb"], 1)
        missing += max(0.0, requirement["compute_slices"] - profile.slice_count) / requirement["compute_slices"]
        if requirement["media_engines"] and not profile.engines.ofa:
            missing += 1
        return (missing, -memory, -profile.slice_count, profile.profile_id)

    best = min(profiles, key=shortfall)
    return "%s (%d GB, %d compute slices)" % (best.name, parse(best.name).memory_gb, best.slice_count)


def _describe(choice):
    return ", ".join("%s x%d" % (profile.name, count) for profile, count in choice)


def _merge(choice):
    merged = Counter()
    order = []
    for profile, count in choice:
        if profile not in merged:
            order.append(profile)
        merged[profile] += count
    return [(profile, merged[profile]) for profile in order]


def select(profiles, requirements, capabilities, sharing_strategy="none", uses_fabric_partitions=False):
    """Pick profiles for requirement items on one GPU: -> [(GpuInstanceProfile, count)].

    ``capabilities`` is the GPU's ``_capabilities.Capabilities``. Raises InputError when an
    item matches no profile or the items cannot exist together on the GPU; the message
    names the closest feasible alternative.
    """
    if sharing_strategy not in SHARING_STRATEGIES:
        raise InputError("sharing_strategy", sharing_strategy, "unknown value", SHARING_STRATEGIES)
    if not capabilities.mig_supported:
        raise InputError("requirements", requirements, "%s GPUs do not support MIG" % capabilities.name)
    items = [normalise_requirement(item, "requirements[%d]" % index) for index, item in enumerate(requirements)]
    board = board_for(profiles)
    ranked = []
    for index, item in enumerate(items):
        candidates = rank(profiles, item, capabilities, sharing_strategy, uses_fabric_partitions)
        if not candidates:
            raise InputError(
                "requirements[%d]" % index,
                requirements[index],
                "no profile of this GPU satisfies it; closest: %s" % _closest(profiles, item),
            )
        ranked.append(candidates)
    counts = [int(item["count"]) for item in items]
    for choice in _combinations_best_first(ranked):
        selected = _merge(zip(choice, counts))
        if board.fits(Counter(dict((p.profile_id, n) for p, n in selected))):
            return selected
    alternative = _closest_feasible(board, ranked, counts)
    raise InputError(
        "requirements",
        requirements,
        "the items cannot exist together on this GPU (%s needs more than it has); closest feasible: %s"
        % (_describe(_merge(zip([c[0] for c in ranked], counts))), _describe(alternative) or "nothing"),
    )


def _combinations_best_first(ranked):
    """Candidate choices ordered by summed rank (ties: earlier items' rank first)."""
    width = [len(candidates) for candidates in ranked]
    total = 1
    for count in width:
        total *= count
    while total > _MAX_COMBINATIONS and max(width) > 1:
        widest = width.index(max(width))
        total = total // width[widest] * (width[widest] - 1)
        width[widest] -= 1
    orders = sorted(product(*[range(count) for count in width]), key=lambda ranks: (sum(ranks), ranks))
    for ranks in orders:
        yield [candidates[r] for candidates, r in zip(ranked, ranks)]


def _reduce(board, choice, counts):
    """Feasible reduction of one choice: drop an instance of the widest item until it fits."""
    counts = list(counts)
    while any(counts):
        selected = _merge([(p, n) for p, n in zip(choice, counts) if n])
        if board.fits(Counter(dict((p.profile_id, n) for p, n in selected))):
            return selected
        widest = max(range(len(counts)), key=lambda i: (counts[i] > 0, min(p.size for p in choice[i].placements), counts[i]))
        counts[widest] -= 1
    return []


def _closest_feasible(board, ranked, counts, tries=200):
    """The reduction keeping the most instances over the best-ranked choices."""
    best = []
    for attempt, choice in enumerate(_combinations_best_first(ranked)):
        if attempt >= tries:
            break
        reduced = _reduce(board, choice, counts)
        if sum(n for _p, n in reduced) > sum(n for _p, n in best):
            best = reduced
    return best

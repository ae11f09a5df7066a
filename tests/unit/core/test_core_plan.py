"""Disruption-minimal plans: brute-force minimum on random transitions, busy instances."""

import random
from collections import Counter

import pytest
from brute_force import find_placements, minimum_destroyed, slots, within_limits
from reference_boards import A30, A100_40GB, EIGHT_SLOT_BOARDS, H100_80GB, RTX_PRO_6000, BOARDS, by_name
from simulator_boards import SIMULATOR_BOARDS

from ansible_collections.gpuops.mig.plugins.module_utils._errors import PlacementError
from ansible_collections.gpuops.mig.plugins.module_utils._model import ComputeInstance, GpuInstance, Placement
from ansible_collections.gpuops.mig.plugins.module_utils._placement import Desired, plan
from ansible_collections.gpuops.mig.plugins.module_utils._profiles import default_compute_profile


def gpu_instance(gi_id, profile, placement, processes=(), compute=None):
    compute_profile = compute or default_compute_profile(profile)
    ci = ComputeInstance(0, compute_profile.profile_id, Placement(0, compute_profile.slice_count), "MIG-%d" % gi_id, processes)
    return GpuInstance(gi_id, profile.profile_id, placement, (ci,), processes)


def random_layout(rng, profiles, attempts=12):
    """A random valid layout: [(profile, placement)], built by random creations."""
    chosen, used = [], set()
    for _attempt in range(attempts):
        profile = rng.choice(profiles)
        if not within_limits(profiles, [p for p, _x in chosen] + [profile]):
            continue
        free = [p for p in profile.placements if not slots(p) & used]
        if free:
            placement = rng.choice(free)
            chosen.append((profile, placement))
            used |= slots(placement)
    return chosen


def apply(current, result):
    """Instances left after a plan: (profile_id, placement) of kept and created."""
    kept = [(i.profile_id, tuple(i.placement)) for i in current if i.gi_id in result.keep]
    created = [(profile.profile_id, tuple(placement)) for profile, placement, _cis in result.create]
    return kept + created


def transitions(board_profiles, count, seed):
    rng = random.Random(seed)
    for _case in range(count):
        current = [
            gpu_instance(10 + n, profile, placement)
            for n, (profile, placement) in enumerate(random_layout(rng, board_profiles, rng.randint(1, 12)))
        ]
        roll = rng.random()
        if roll < 0.1:
            wanted = [board_profiles_by_id(board_profiles)[i.profile_id] for i in current]
        elif roll < 0.4:  # a change near the current layout
            wanted = [board_profiles_by_id(board_profiles)[i.profile_id] for i in current]
            rng.shuffle(wanted)
            wanted = wanted[: rng.randint(0, len(wanted))] + [p for p, _x in random_layout(rng, board_profiles, 3)]
            if find_placements(board_profiles, wanted) is None:
                wanted = [p for p, _x in random_layout(rng, board_profiles, rng.randint(1, 12))]
        else:
            wanted = [p for p, _x in random_layout(rng, board_profiles, rng.randint(1, 12))]
        yield current, wanted


def board_profiles_by_id(profiles):
    return dict((p.profile_id, p) for p in profiles)


def check_transition(profiles, current, wanted):
    result = plan(profiles, current, [Desired(p) for p in wanted])
    assert len(result.destroy) == minimum_destroyed(profiles, current, wanted)
    final = apply(current, result)
    assert Counter(pid for pid, _p in final) == Counter(p.profile_id for p in wanted)
    used = set()
    for _pid, placement in final:
        cells = slots(Placement(*placement))
        assert not cells & used
        used |= cells
    destroyed = set(i.gi_id for i in result.destroy)
    assert destroyed.isdisjoint(result.keep)
    assert destroyed | set(result.keep) == set(i.gi_id for i in current)
    # Every compute instance of a destroyed GPU instance goes first.
    assert set((gi.gi_id, ci.ci_id) for gi, ci in result.destroy_compute) >= set(
        (i.gi_id, ci.ci_id) for i in result.destroy for ci in i.compute_instances
    )
    return result


EIGHT_SLOT = dict(("reference/" + name, BOARDS[name]) for name in EIGHT_SLOT_BOARDS)
EIGHT_SLOT.update(
    ("simulator/" + name, profiles)
    for name, profiles in SIMULATOR_BOARDS.items()
    if max(p.start + p.size for profile in profiles for p in profile.placements) == 8
)


@pytest.mark.parametrize("board_name", sorted(EIGHT_SLOT))
def test_random_transitions_destroy_the_brute_force_minimum(board_name):
    profiles = EIGHT_SLOT[board_name]
    noops = 0
    for current, wanted in transitions(profiles, 1000, seed=len(board_name) * 7919):
        result = check_transition(profiles, current, wanted)
        noops += result.is_noop
    assert noops  # same-layout transitions are no-ops


@pytest.mark.parametrize("profiles", [A30, RTX_PRO_6000], ids=["A30", "RTX-PRO-6000"])
def test_random_transitions_on_small_grids(profiles):
    for current, wanted in transitions(profiles, 300, seed=5):
        check_transition(profiles, current, wanted)


def test_keeps_instances_mig_parted_would_destroy():
    g1, g3 = by_name(A100_40GB, "1g.5gb"), by_name(A100_40GB, "3g.20gb")
    current = [gpu_instance(1, g3, Placement(0, 4)), gpu_instance(2, g1, Placement(6, 1))]
    result = plan(A100_40GB, current, [Desired(g3), Desired(g1), Desired(g1)])
    assert result.keep == (1, 2) and not result.destroy
    assert [(p.name, pl) for p, pl, _c in result.create] == [("1g.5gb", result.create[0][1])]
    recreate = plan(A100_40GB, current, [Desired(g3), Desired(g1), Desired(g1)], disruption="recreate")
    assert len(recreate.destroy) == 2 and len(recreate.create) == 3


def test_same_layout_is_a_noop_in_both_disruption_modes():
    g2 = by_name(H100_80GB, "2g.20gb")
    current = [gpu_instance(3, g2, Placement(0, 2)), gpu_instance(5, g2, Placement(4, 2))]
    for disruption in ("minimal", "recreate"):
        assert plan(H100_80GB, current, [Desired(g2), Desired(g2)], disruption=disruption).is_noop


def test_busy_instances_are_kept_and_idle_ones_make_room():
    g1, g3 = by_name(A100_40GB, "1g.5gb"), by_name(A100_40GB, "3g.20gb")
    # Either 1g could stay for the wanted 1g; the 3g then needs the other half.
    current = [gpu_instance(1, g1, Placement(0, 1)), gpu_instance(2, g1, Placement(5, 1), processes=(4242,))]
    result = plan(A100_40GB, current, [Desired(g1), Desired(g3)])
    assert result.keep == (2,)
    assert [i.gi_id for i in result.destroy] == [1]
    assert [(p.name, pl) for p, pl, _c in result.create] == [("3g.20gb", Placement(0, 4))]


def test_layout_needing_a_busy_instance_gone_fails_and_names_it():
    g1, g3 = by_name(A100_40GB, "1g.5gb"), by_name(A100_40GB, "3g.20gb")
    current = [gpu_instance(7, g1, Placement(5, 1), processes=(4242,)), gpu_instance(8, g1, Placement(0, 1))]
    with pytest.raises(PlacementError) as error:
        plan(A100_40GB, current, [Desired(g3), Desired(g3)])
    assert "gi 7" in str(error.value)
    assert [entry["gi_id"] for entry in error.value.blocking] == [7]
    assert error.value.blocking[0]["processes"] == [4242]
    forced = plan(A100_40GB, current, [Desired(g3), Desired(g3)], force=True)
    assert set(i.gi_id for i in forced.destroy) == {7, 8}


def test_busy_instance_of_an_unwanted_profile_blocks_recreate_and_minimal():
    g1, g2 = by_name(H100_80GB, "1g.10gb"), by_name(H100_80GB, "2g.20gb")
    current = [gpu_instance(9, g1, Placement(6, 1), processes=(1,))]
    for disruption in ("minimal", "recreate"):
        with pytest.raises(PlacementError) as error:
            plan(H100_80GB, current, [Desired(g2)], disruption=disruption)
        assert error.value.blocking[0]["gi_id"] == 9
    busy_and_idle = [gpu_instance(9, g1, Placement(6, 1), processes=(1,)), gpu_instance(10, g1, Placement(0, 1))]
    assert plan(H100_80GB, busy_and_idle, [Desired(g1)] * 2, disruption="recreate").is_noop
    with pytest.raises(PlacementError):
        plan(H100_80GB, busy_and_idle, [Desired(g1)] * 3, disruption="recreate")
    assert plan(H100_80GB, busy_and_idle, [Desired(g1)] * 3).keep == (9, 10)


def test_compute_instances_of_a_kept_gpu_instance_are_reconciled():
    g3 = by_name(A100_40GB, "3g.20gb")
    one_c = next(ci for ci in g3.compute_profiles if ci.slice_count == 1)
    current = [gpu_instance(2, g3, Placement(0, 4))]  # default CI 3g
    result = plan(A100_40GB, current, [Desired(g3, None, (one_c, one_c))])
    assert result.keep == (2,) and not result.destroy and not result.create
    assert [ci.profile_id for _gi, ci in result.destroy_compute] == [default_compute_profile(g3).profile_id]
    assert [p for _gi, p in result.create_compute] == [one_c, one_c]


def test_busy_compute_instance_is_not_destroyed_without_force():
    g3 = by_name(A100_40GB, "3g.20gb")
    one_c = next(ci for ci in g3.compute_profiles if ci.slice_count == 1)
    current = [gpu_instance(2, g3, Placement(0, 4), processes=(77,))]
    with pytest.raises(PlacementError) as error:
        plan(A100_40GB, current, [Desired(g3, None, (one_c,))])
    assert error.value.blocking == [{"gi_id": 2, "ci_id": 0, "processes": [77]}]
    assert len(plan(A100_40GB, current, [Desired(g3, None, (one_c,))], force=True).destroy_compute) == 1


def test_fixed_placements_move_instances_only_when_asked():
    g1, g3 = by_name(A100_40GB, "1g.5gb"), by_name(A100_40GB, "3g.20gb")
    current = [gpu_instance(2, g3, Placement(0, 4)), gpu_instance(9, g1, Placement(6, 1))]
    # The 3g is wanted in the upper half, where the 1g sits: both must go.
    moved = plan(A100_40GB, current, [Desired(g3, Placement(4, 4)), Desired(g1)])
    assert [i.gi_id for i in moved.destroy] == [2, 9]
    created = dict((p.name, pl) for p, pl, _c in moved.create)
    assert created["3g.20gb"] == Placement(4, 4) and created["1g.5gb"].start < 4
    # A fixed 1g elsewhere moves only the 1g.
    one_moved = plan(A100_40GB, current, [Desired(g3), Desired(g1, Placement(5, 1))])
    assert one_moved.keep == (2,) and [(p.name, pl) for p, pl, _c in one_moved.create] == [("1g.5gb", Placement(5, 1))]
    assert plan(A100_40GB, current, [Desired(g3, Placement(0, 4)), Desired(g1, Placement(6, 1))]).is_noop


def test_creates_come_largest_first_with_their_compute_instances():
    names = ["1g.5gb", "3g.20gb", "2g.10gb"]
    result = plan(A100_40GB, [], [Desired(by_name(A100_40GB, n)) for n in names])
    assert [p.name for p, _pl, _c in result.create] == ["3g.20gb", "2g.10gb", "1g.5gb"]
    assert all(cis == (default_compute_profile(p),) for p, _pl, cis in result.create)


def test_impossible_layout_fails_before_planning_anything():
    with pytest.raises(PlacementError) as error:
        plan(A100_40GB, [], [Desired(by_name(A100_40GB, "4g.20gb"))] * 2)
    assert "at most 1" in str(error.value)

"""Exact single-GPU placement: exhaustive agreement with brute force, reference rules."""

from collections import Counter

import pytest
from brute_force import find_placements, multisets, slots
from reference_boards import A30, A100_40GB, BOARDS, H100_80GB, RTX_PRO_6000, by_name
from simulator_boards import SIMULATOR_BOARDS

from ansible_collections.gpuops.mig.plugins.module_utils._errors import InputError, PlacementError
from ansible_collections.gpuops.mig.plugins.module_utils._model import GpuInstance, Placement
from ansible_collections.gpuops.mig.plugins.module_utils._placement import (
    Desired,
    board_for,
    driver_default_order,
    place,
)

ALL_BOARDS = dict(("reference/" + name, profiles) for name, profiles in BOARDS.items())
ALL_BOARDS.update(("simulator/" + name, profiles) for name, profiles in SIMULATOR_BOARDS.items())


def layout(profiles, *names):
    return [Desired(by_name(profiles, name)) for name in names]


def assert_valid(profiles, placed, taken=()):
    """Placements come from each profile's list and never overlap."""
    used = set(taken)
    for item, placement in placed:
        assert placement in item.profile.placements
        if item.placement is not None:
            assert placement == item.placement
        assert not slots(placement) & used
        used |= slots(placement)


@pytest.mark.parametrize("board_name", sorted(ALL_BOARDS))
@pytest.mark.parametrize("strategy", ["best-fit", "balanced"])
def test_every_layout_is_placed_iff_brute_force_finds_a_placement(board_name, strategy):
    profiles = ALL_BOARDS[board_name]
    placed_count = refused_count = 0
    for wanted in multisets(profiles):
        expected = find_placements(profiles, wanted) is not None
        desired = [Desired(profile) for profile in wanted]
        try:
            placed = place(profiles, desired, strategy=strategy)
        except PlacementError:
            assert not expected, "refused a placeable layout: %s" % sorted(p.name for p in wanted)
            refused_count += 1
            continue
        assert expected, "placed an impossible layout: %s" % sorted(p.name for p in wanted)
        assert_valid(profiles, placed)
        assert [item for item, _p in placed] == desired
        placed_count += 1
    assert placed_count and refused_count


@pytest.mark.parametrize("board_name", sorted(ALL_BOARDS))
def test_layouts_next_to_existing_instances_match_brute_force(board_name):
    profiles = ALL_BOARDS[board_name]
    smallest = min(profiles, key=lambda p: (min(x.size for x in p.placements), p.profile_id))
    for spot in smallest.placements:
        existing = [GpuInstance(1, smallest.profile_id, spot, (), ())]
        for wanted in multisets(profiles):
            expected = find_placements(profiles, wanted, frozenset(slots(spot)), [smallest])
            try:
                placed = place(profiles, [Desired(p) for p in wanted], existing)
            except PlacementError:
                assert expected is None
                continue
            assert expected is not None
            assert_valid(profiles, placed, slots(spot))


def test_driver_default_order_fails_where_an_exact_placement_exists():
    wanted = layout(A100_40GB, "1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb")
    with pytest.raises(PlacementError):
        driver_default_order(A100_40GB, wanted)
    assert_valid(A100_40GB, place(A100_40GB, wanted))


def test_driver_default_order_reproduces_the_observed_1g_sequence():
    placed = driver_default_order(A100_40GB, layout(A100_40GB, *["1g.5gb"] * 7))
    assert [p.start for _item, p in placed] == [6, 4, 5, 0, 1, 2, 3]


@pytest.mark.parametrize(
    "profiles,names",
    [
        (A100_40GB, ["1g.5gb+me", "1g.5gb+me"]),
        (A30, ["1g.6gb+me", "1g.6gb+me"]),
        (A30, ["1g.6gb+me", "2g.12gb+me"]),
        (H100_80GB, ["1g.10gb+me", "1g.10gb+me"]),
        (RTX_PRO_6000, ["1g.24gb+me.all", "1g.24gb"]),
        (RTX_PRO_6000, ["1g.24gb+me.all", "1g.24gb+gfx"]),
        (RTX_PRO_6000, ["1g.24gb+me.all", "1g.24gb+me"]),
        (RTX_PRO_6000, ["2g.48gb+me.all", "1g.24gb+me"]),
        (RTX_PRO_6000, ["2g.48gb+me.all", "2g.48gb"]),
    ],
)
def test_media_engine_exclusivity_refuses_with_a_clear_message(profiles, names):
    with pytest.raises(PlacementError) as error:
        place(profiles, layout(profiles, *names))
    assert "engines" in str(error.value) or "at most 1" in str(error.value)


@pytest.mark.parametrize(
    "profiles,names",
    [
        (RTX_PRO_6000, ["1g.24gb+me.all", "1g.24gb-me", "1g.24gb-me", "1g.24gb-me"]),
        (RTX_PRO_6000, ["2g.48gb+me.all", "2g.48gb-me"]),
        (RTX_PRO_6000, ["1g.24gb+me", "1g.24gb", "1g.24gb+gfx", "1g.24gb-me"]),
        (A100_40GB, ["1g.5gb+me"] + ["1g.5gb"] * 6),
        (H100_80GB, ["1g.10gb+me"] + ["1g.10gb"] * 6),
        (A30, ["1g.6gb+me", "1g.6gb", "2g.12gb"]),
    ],
)
def test_media_engine_variants_that_the_driver_allows_are_placed(profiles, names):
    assert_valid(profiles, place(profiles, layout(profiles, *names)))


# mig-parted all-balanced configs (reference §9) and all-1g per board.
BALANCED = {
    "A100-SXM4-40GB": ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"],
    "A100-SXM4-80GB": ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"],
    "A30-24GB": ["1g.6gb", "1g.6gb", "2g.12gb"],
    "H100-SXM5-80GB": ["1g.10gb", "1g.10gb", "2g.20gb", "3g.40gb"],
    "H100-NVL-94GB": ["1g.12gb", "1g.12gb", "2g.24gb", "3g.47gb"],
    "GH200-96GB": ["1g.12gb", "1g.12gb", "2g.24gb", "3g.48gb"],
    "H200-SXM-141GB": ["1g.18gb", "1g.18gb", "2g.35gb", "3g.71gb"],
    "B200": ["1g.23gb", "1g.23gb", "2g.45gb", "3g.90gb"],
    "RTX-PRO-6000-BSE": ["1g.24gb", "1g.24gb", "2g.48gb"],
}


@pytest.mark.parametrize("board_name", sorted(BALANCED))
def test_mig_parted_all_balanced_and_all_1g_are_placed(board_name):
    profiles = SIMULATOR_BOARDS[board_name]
    assert_valid(profiles, place(profiles, layout(profiles, *BALANCED[board_name])))
    smallest = BALANCED[board_name][0]
    most = by_name(profiles, smallest).instance_count
    assert_valid(profiles, place(profiles, layout(profiles, *[smallest] * most)))
    with pytest.raises(PlacementError):
        place(profiles, layout(profiles, *[smallest] * (most + 1)))


def test_best_fit_keeps_the_largest_profiles_creatable():
    board = board_for(A100_40GB)
    placed = place(A100_40GB, layout(A100_40GB, "1g.5gb", "1g.5gb", "1g.5gb"))
    existing = [GpuInstance(i, 19, p, (), ()) for i, (_item, p) in enumerate(placed)]
    # 4g.20gb and 3g.20gb need slots 0-3: best-fit leaves them free.
    assert_valid(A100_40GB, place(A100_40GB, layout(A100_40GB, "4g.20gb"), existing))
    occupied = 0
    for _item, p in placed:
        occupied |= ((1 << p.size) - 1) << p.start
    capacity = board.remaining_capacity(occupied, Counter({19: 3}))
    assert capacity[5] == 1 and capacity[9] == 1


def test_balanced_spreads_instances_over_the_grid():
    spread = place(A100_40GB, layout(A100_40GB, "1g.5gb", "1g.5gb"), strategy="balanced")
    packed = place(A100_40GB, layout(A100_40GB, "1g.5gb", "1g.5gb"), strategy="best-fit")

    def distance(placed):
        return abs(placed[0][1].start - placed[1][1].start)

    assert distance(spread) > distance(packed)


def test_fixed_placements_are_honoured_and_checked():
    wanted = [Desired(by_name(A100_40GB, "3g.20gb"), Placement(4, 4)), Desired(by_name(A100_40GB, "2g.10gb"))]
    placed = place(A100_40GB, wanted)
    assert placed[0][1] == Placement(4, 4)
    assert_valid(A100_40GB, placed)
    with pytest.raises(InputError) as error:
        place(A100_40GB, [Desired(by_name(A100_40GB, "3g.20gb"), Placement(2, 4))])
    assert error.value.valid == ["0:4", "4:4"]
    overlapping = [Desired(by_name(A100_40GB, "4g.20gb"), Placement(0, 4)), Desired(by_name(A100_40GB, "2g.10gb"), Placement(2, 2))]
    with pytest.raises(PlacementError):
        place(A100_40GB, overlapping)


def test_compute_instances_must_fit_their_gpu_instance():
    gi = by_name(A100_40GB, "3g.20gb")
    one_c = next(ci for ci in gi.compute_profiles if ci.slice_count == 1)
    two_c = next(ci for ci in gi.compute_profiles if ci.slice_count == 2)
    place(A100_40GB, [Desired(gi, None, (one_c, one_c, one_c))])
    place(A100_40GB, [Desired(gi, None, (two_c, one_c))])
    with pytest.raises(PlacementError):
        place(A100_40GB, [Desired(gi, None, (two_c, two_c))])
    foreign = by_name(A100_40GB, "7g.40gb").compute_profiles[-1]
    with pytest.raises(InputError):
        place(A100_40GB, [Desired(gi, None, (foreign,))])


def test_unknown_strategy_is_refused_with_the_choices():
    with pytest.raises(InputError) as error:
        place(A100_40GB, layout(A100_40GB, "1g.5gb"), strategy="first-fit")
    assert error.value.valid == ["best-fit", "balanced", "fabric-aware"]

"""Interrupted runs: the journal written before the first change lets the next run
complete the plan, re-plan, or roll it back, touching only the plan's instances."""

import json
import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _execution, _reconcile
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host

from reconcile_support import apply, interrupt_run, journal_path, layouts, mig_uuids, mutating_calls, opened, run_change

SLOW = {"nvmlDeviceCreateGpuInstanceWithPlacement": 0.1, "nvmlGpuInstanceCreateComputeInstance": 0.05}
LAYOUT = ["2g.12gb", "1g.6gb", "1g.6gb"]


@pytest.fixture
def interrupted(make_host):
    """An a30-x4 host whose GPUs had [4g.24gb]; a run towards LAYOUT was killed part way,
    after destroying each GPU's 4g.24gb and creating at least one new GPU instance (the
    plan of a GPU: destroy CI and GI, then three times create GI and CI)."""
    simulator = make_host("a30-x4")
    apply(simulator, ["4g.24gb"])
    before = layouts(simulator)
    simulated_host.update_host(simulator, latency=SLOW)
    interrupt_run(simulator, LAYOUT, steps_per_gpu=3)
    simulated_host.update_host(simulator, latency={})
    return simulator, before


def test_the_next_run_with_the_same_desired_state_completes_the_plan(interrupted):
    simulator, _before = interrupted
    partial = layouts(simulator)
    assert any(view != ["2g.12gb@0:2", "1g.6gb@2:1", "1g.6gb@3:1"] for view in partial.values())
    result = apply(simulator, LAYOUT)
    assert result["recovered"] is True and result["changed"] is True
    assert all(view == ["2g.12gb@0:2", "1g.6gb@2:1", "1g.6gb@3:1"] for view in layouts(simulator).values())
    # no step was done twice: one GPU instance created per final instance, one destroyed per 4g
    calls = mutating_calls(simulator)
    assert calls["nvmlDeviceCreateGpuInstanceWithPlacement"] == 4 + 4 * 3
    assert calls["nvmlGpuInstanceDestroy"] == 4
    assert not os.path.exists(journal_path(simulator))
    again = apply(simulator, LAYOUT)
    assert again["changed"] is False and again["recovered"] is False


def test_the_next_run_with_another_desired_state_plans_from_what_exists(interrupted):
    simulator, _before = interrupted
    result = apply(simulator, ["2g.12gb", "2g.12gb"])
    assert result["recovered"] is True
    assert all(view == ["2g.12gb@0:2", "2g.12gb@2:2"] for view in layouts(simulator).values())


def test_gpus_the_next_run_does_not_select_go_back_to_their_layout_before(interrupted):
    simulator, before = interrupted
    result = apply(simulator, LAYOUT, gpus=["0"])
    assert result["recovered"] is True
    after = layouts(simulator)
    assert after[0] == ["2g.12gb@0:2", "1g.6gb@2:1", "1g.6gb@3:1"]
    assert [after[gpu] for gpu in (1, 2, 3)] == [before[gpu] for gpu in (1, 2, 3)] == [["4g.24gb@0:4"]] * 3


def test_an_instance_outside_the_interrupted_plan_is_never_touched(interrupted):
    simulator, before = interrupted
    with opened(simulator) as hardware:  # someone creates an instance by hand after the crash
        taken = set(slot for gi in hardware.gpu_instances(3) for slot in range(gi.placement.start, sum(gi.placement)))
        profile = next(p for p in hardware.gpu_instance_profiles(3) if p.name == "1g.6gb")
        foreign = hardware.create_gpu_instance(3, profile.profile_id, next(p for p in profile.placements if p.start not in taken))
    # rolling GPU 3 back needs its 4g.24gb again, which the foreign instance is in the way of
    with pytest.raises(_execution.RunFailed) as raised:
        apply(simulator, LAYOUT, gpus=["0"])
    assert "GPU 3" in str(raised.value) and raised.value.details()["error"] == "NVML_ERROR_INSUFFICIENT_RESOURCES"
    assert "1g.6gb@%d:1 []" % foreign.placement.start in layouts(simulator)[3]
    assert os.path.exists(journal_path(simulator))  # the interrupted run is still on record
    with opened(simulator) as hardware:
        hardware.destroy_gpu_instance(3, foreign.gi_id)
    assert apply(simulator, LAYOUT, gpus=["0"])["recovered"] is True
    assert [layouts(simulator)[gpu] for gpu in (1, 2, 3)] == [before[gpu] for gpu in (1, 2, 3)]


def test_mig_mode_rolls_an_interrupted_instance_run_back(interrupted):
    simulator, before = interrupted
    with opened(simulator) as hardware:
        result = _reconcile.MigModeChange(hardware, hardware.select(), True).run()
    assert result["recovered"] is True and result["changed"] is True
    assert layouts(simulator) == before
    assert not os.path.exists(journal_path(simulator))


def test_check_mode_reports_the_recovery_and_changes_nothing(interrupted):
    simulator, _before = interrupted
    partial, calls = layouts(simulator), mutating_calls(simulator)
    result = apply(simulator, LAYOUT, check_mode=True, diff=True)
    assert result["recovered"] is True and result["changed"] is True and result["actions"]
    assert all(view == ["2g.12gb@0:2", "1g.6gb@2:1", "1g.6gb@3:1"] for view in result["diff"]["after"].values())
    assert (layouts(simulator), mutating_calls(simulator)) == (partial, calls)
    assert os.path.exists(journal_path(simulator))


class DiesAfter(object):
    """Hardware whose process 'dies' right after the n-th call of ``method`` returns: the
    driver did it, the journal never heard of it."""

    def __init__(self, hardware, method, calls):
        self._hardware = hardware
        self._method = method
        self.left = calls

    def __getattr__(self, name):
        attribute = getattr(self._hardware, name)
        if name != self._method:
            return attribute

        def call(*args):
            result = attribute(*args)
            self.left -= 1
            if self.left == 0:
                raise SystemExit("killed")
            return result

        return call


def _die_part_way(simulator, method, calls, layout, **options):
    with opened(simulator) as hardware:
        with pytest.raises(SystemExit):
            run_change(DiesAfter(hardware, method, calls), layout, gpus=["0"], parallel=1, **options)
    with open(journal_path(simulator)) as handle:
        return json.load(handle)["gpus"]["0"]


def test_a_step_done_but_not_journaled_is_recognised_and_not_repeated(make_host):
    simulator = make_host("dgx-h100")
    entry = _die_part_way(simulator, "create_gpu_instance", 2, ["3g.40gb", "2g.20gb", "1g.10gb"])
    assert len(entry["done"]) == 2  # GI 1 and its compute instance; GI 2 exists but is not journaled
    result = apply(simulator, ["3g.40gb", "2g.20gb", "1g.10gb"], gpus=["0"])
    assert result["recovered"] is True
    assert [action["action"] for action in result["actions"]] == [
        "create_compute_instance",  # of the GPU instance whose creation was not journaled
        "create_gpu_instance",
        "create_compute_instance",
    ]
    assert sorted(view.split("@")[0] for view in layouts(simulator)[0]) == ["1g.10gb", "2g.20gb", "3g.40gb"]
    assert mutating_calls(simulator)["nvmlDeviceCreateGpuInstanceWithPlacement"] == 3
    assert len(mig_uuids(simulator)) == 3


@pytest.mark.parametrize(
    "method, first, then, options",
    [
        # compute instances 0 and 1 are destroyed, the new default one gets id 0 again
        ("create_compute_instance", [{"profile": "2g.20gb", "compute_instances": ["1c", "1c"]}], ["2g.20gb"], {}),
        # the GPU instance is destroyed and recreated at its placement: the driver gives it the same id
        ("create_gpu_instance", ["3g.40gb", "1g.10gb"], ["3g.40gb", "2g.20gb"], {"disruption": "recreate"}),
    ],
)
def test_an_unjournaled_instance_with_an_id_the_plan_freed_is_recognised(make_host, method, first, then, options):
    simulator = make_host("dgx-h100")
    apply(simulator, first, gpus=["0"])
    calls = mutating_calls(simulator)
    entry = _die_part_way(simulator, method, 1, then, **options)
    freed = set(step.get("ci", step.get("gi")) for step in entry["steps"] if step["op"].startswith("destroy"))
    assert freed  # the plan destroyed instances whose ids the driver hands out again
    result = apply(simulator, then, gpus=["0"], **options)
    assert result["recovered"] is True
    assert sorted(view.split(" ")[0] for view in layouts(simulator)[0]) == sorted(
        view.split(" ")[0] for view in apply(simulator, then, gpus=["0"], check_mode=True, diff=True)["diff"]["after"]["gpu0"]
    )
    created = mutating_calls(simulator)["nvmlDeviceCreateGpuInstanceWithPlacement"] - calls.get("nvmlDeviceCreateGpuInstanceWithPlacement", 0)
    assert created == sum(1 for step in entry["steps"] if step["op"] == "create_gi")  # none done twice
    assert apply(simulator, then, gpus=["0"])["changed"] is False

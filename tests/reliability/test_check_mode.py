"""Check mode predicts exactly what the real run does, failures included (issue 16
case 4): the same plan goes through the same preconditions, and a change NVML would
refuse part way is refused by both before the first change."""

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_plans import host_gpus, mig_uuids
from reliability_support import make_host, run_module, tree_snapshot


def _both_modes(host_dir, module, args):
    """Run check mode, then the real run; both must fail alike and change nothing."""
    before = tree_snapshot(host_dir)
    results = [run_module(module, args, check_mode=check_mode) for check_mode in (True, False)]
    for result in results:
        assert "traceback" not in result, result["traceback"]
        assert result.get("failed") is True and result["changed"] is False, result
    assert results[0]["msg"] == results[1]["msg"] and results[0].get("blocking") == results[1].get("blocking")
    assert tree_snapshot(host_dir) == before
    return results[1]


def _busy_h100(host_dir):
    """DGX H100, MIG on, [3g.40gb, 1g.10gb x3] on GPUs 0-3, a process on GPU 1's 3g.40gb."""
    path = make_host(host_dir, "dgx-h100")
    layout = ["3g.40gb", "1g.10gb", "1g.10gb", "1g.10gb"]
    assert not run_module("mig_instance", {"simulator": path, "gpus": ["0", "1", "2", "3"], "layout": layout}).get("failed")
    busy = next(gi for gi in host_gpus(path)[1]["gpu_instances"] if gi["profile"] == "3g.40gb")
    simulated_host.update_host(path, processes=[{"pid": 4242, "gpu": 1, "gi_id": busy["gi_id"], "ci_id": 0, "name": "train.py"}])
    return path


def test_force_over_a_busy_instance_is_predicted_as_the_failure_it_is(host_dir):
    """layout [7g.80gb] with force: NVML refuses to destroy the busy 3g.40gb, so neither
    run destroys anything (no idle MIG UUID changes)."""
    path = _busy_h100(host_dir)
    uuids = mig_uuids(path)
    args = {"simulator": path, "gpus": ["0", "1", "2", "3"], "layout": ["7g.80gb"], "force": True}
    result = _both_modes(host_dir, "mig_instance", args)
    assert "processes 4242" in result["msg"] and result["gpu"] == 1
    assert mig_uuids(path) == uuids


def test_disabling_mig_with_force_over_a_busy_instance_changes_nothing(host_dir):
    path = _busy_h100(host_dir)
    uuids = mig_uuids(path)
    result = _both_modes(host_dir, "mig_mode", {"simulator": path, "state": "disabled", "force": True})
    assert "processes 4242" in result["msg"] and "IN_USE" in result["msg"] and result["gpu"] == 1
    assert mig_uuids(path) == uuids
    assert all(gpu["mig_current"] for gpu in host_gpus(path).values())


def test_enabling_mig_on_a100s_with_a_process_on_one_is_refused_before_any_reset(host_dir):
    path = make_host(host_dir, "dgx-a100", mig=False)
    simulated_host.update_host(path, processes=[{"pid": 4242, "gpu": 0, "name": "train.py"}])
    result = _both_modes(host_dir, "mig_mode", {"simulator": path, "state": "enabled"})
    assert "GPU 0: processes 4242" in result["msg"] and result["gpu"] == 0
    assert [(gpu["mig_current"], gpu["mig_pending"], gpu["resets"]) for gpu in host_gpus(path).values()] == [(False, False, 0)] * 8


@pytest.mark.parametrize("preset", ["dgx-a100", "dgx-h100"])
def test_a_host_that_cannot_reset_gpus_is_predicted_to_need_a_reboot(host_dir, preset):
    """reset_supported false (a passthrough VM): check mode predicts reboot_required as the
    real run reports it (Ampere; Hopper applies the mode at once and needs none)."""
    path = make_host(host_dir, preset, mig=False, reset_supported=False)
    args = {"simulator": path, "state": "enabled", "gpus": ["0", "1"]}
    predicted = run_module("mig_mode", args, check_mode=True)
    done = run_module("mig_mode", args)
    for result in (predicted, done):
        assert result.get("failed") is not True, result.get("msg", result)
    assert predicted["reboot_required"] is done["reboot_required"] is (preset == "dgx-a100")
    assert predicted["pending_gpus"] == done["pending_gpus"] and predicted["gpus"] == done["gpus"]
    assert [action["action"] for action in predicted["actions"]] == [action["action"] for action in done["actions"]]

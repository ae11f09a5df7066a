"""Failures that are no NVML error, after the first change (issue 16 case 3): a journal
write that fails (ENOSPC on a small tmpfs), once or from some point on. The run rolls
back (or leaves a journal the next run completes), names the error, and ``changed``
says whether anything changed; never a bare traceback."""

import errno
import json
import os

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _execution, _journal
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host as simulated_host
from reliability_plans import PLANS, build_host, host_gpus, journal_layout, layout_key, mig_uuids, run_args
from reliability_support import journal_path, run_module, tree_snapshot
from test_interruption import die_between_call_and_journal

RESHAPE = next(plan for plan in PLANS if plan.name == "h100-reshape")
#: Journal writes of an uninterrupted RESHAPE run with one worker: the journal, 9 steps per GPU.
WRITES = 1 + 2 * 9


def _layouts(path):
    return dict((index, layout_key(gpu["gpu_instances"])) for index, gpu in host_gpus(path).items())


def _full_disk(monkeypatch, path, first, persistent):
    """Journal writes fail with ENOSPC from the ``first``-th on (only that one unless
    ``persistent``); other files (the simulated host's state) are written as usual."""
    write = _journal.write_atomically
    count = [0]

    def write_or_fail(target, text, mode, durable=True, directory_mode=0o755):
        if target == journal_path(path):
            count[0] += 1
            if count[0] == first or (persistent and count[0] > first):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return write(target, text, mode, durable, directory_mode)

    monkeypatch.setattr(_journal, "write_atomically", write_or_fail)


@pytest.mark.parametrize("persistent", [False, True], ids=["once", "from-then-on"])
@pytest.mark.parametrize("first", [1, 2, 6, WRITES])
def test_a_full_disk_while_journaling_rolls_back_and_tells_the_truth(host_dir, monkeypatch, first, persistent):
    path = build_host(host_dir, RESHAPE)
    initial, before = _layouts(path), mig_uuids(path)
    _full_disk(monkeypatch, path, first, persistent)
    result = run_module("mig_instance", dict(run_args(RESHAPE, path), parallel=1))
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True, result
    assert "No space left on device" in result["msg"] and journal_path(path) in result["msg"]
    assert result["changed"] is (first > 1)  # the first write precedes the first change
    if os.path.exists(journal_path(path)):  # the journal describes the host exactly
        with open(journal_path(path)) as handle:
            journal = json.load(handle)
        gpus = host_gpus(path)
        for index, entry in journal["gpus"].items():
            assert journal_layout(entry) == layout_key(gpus[int(index)]["gpu_instances"])
    else:
        assert _layouts(path) == initial
        kept = dict((key, value) for key, value in before.items() if key[0] not in RESHAPE.gpus or value[:2] == ("3g.40gb", 4))
        assert dict((key, value) for key, value in mig_uuids(path).items() if key in kept) == kept
    monkeypatch.undo()
    again = run_module("mig_instance", run_args(RESHAPE, path))
    assert again.get("failed") is not True, again.get("msg", again)
    assert not os.path.exists(journal_path(path))
    assert run_module("mig_instance", run_args(RESHAPE, path))["changed"] is False


def test_an_unexpected_error_in_a_step_is_named_and_rolled_back(host_dir, monkeypatch):
    """Any exception (here a KeyError out of a step) after the first change: rollback,
    a message naming its type, changed true."""
    path = build_host(host_dir, RESHAPE)
    initial = _layouts(path)
    run_step = _execution.Executor.run_step
    calls = [0]

    def third_step_breaks(executor, index, step, done):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyError("gi_profile")
        return run_step(executor, index, step, done)

    monkeypatch.setattr(_execution.Executor, "run_step", third_step_breaks)
    result = run_module("mig_instance", dict(run_args(RESHAPE, path), parallel=1))
    assert "traceback" not in result and result.get("failed") is True, result
    assert "unexpected KeyError" in result["msg"] and result["unexpected"] == "KeyError"
    assert result["changed"] is True and all(action["ok"] for action in result["rollback"])
    assert _layouts(path) == initial and not os.path.exists(journal_path(path))


def test_a_failure_after_settling_a_journal_says_changed(host_dir):
    """A run settles an interrupted run's journal (GPU 1 done, GPU 2 at its second step;
    rolling them back recreates two GPU instances), then its own plan fails on the next
    GPU-instance creation: the failure reports changed true with the settling actions,
    and the host is back in its original layout."""
    path = build_host(host_dir, RESHAPE)
    initial = _layouts(path)
    die_between_call_and_journal(RESHAPE, path, RESHAPE.gpus[-1], 1)
    simulated_host.update_host(
        path, faults=[{"function": "nvmlDeviceCreateGpuInstanceWithPlacement", "call": 3, "error": "NVML_ERROR_UNKNOWN"}]
    )
    result = run_module("mig_instance", {"simulator": path, "gpus": ["1", "2"], "layout": ["3g.40gb", "3g.40gb"]})
    assert result.get("failed") is True and "traceback" not in result, result
    assert result["error"] == "NVML_ERROR_UNKNOWN" and result["changed"] is True
    assert [action["action"] for action in result["actions"]].count("create_gpu_instance") >= 2  # the settling
    assert _layouts(path) == initial and not os.path.exists(journal_path(path))


def test_an_impossible_layout_on_an_interrupted_host_changes_nothing(host_dir):
    """Bad input fails before the first change, also when a journal waits to be settled."""
    path = build_host(host_dir, RESHAPE)
    die_between_call_and_journal(RESHAPE, path, RESHAPE.gpus[-1], 4)
    before = tree_snapshot(host_dir)
    result = run_module("mig_instance", {"simulator": path, "gpus": ["1", "2"], "layout": ["7g.80gb", "1g.10gb"]})
    assert result.get("failed") is True and "traceback" not in result, result
    assert result["changed"] is False and tree_snapshot(host_dir) == before

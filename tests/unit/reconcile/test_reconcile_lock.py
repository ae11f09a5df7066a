"""The host lock: concurrent runs take turns, a waiter names the holder, a dead holder
never blocks."""

import os
import signal
import subprocess
import sys

import pytest

from ansible_collections.gpuops.mig.plugins.module_utils import _reconcile
from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state
from ansible_collections.gpuops.mig.plugins.module_utils._errors import MigError
from ansible_collections.gpuops.mig.plugins.module_utils._host import host_files
from ansible_collections.gpuops.mig.plugins.module_utils._lock import EXCLUSIVE, SHARED, LockTimeout, host_lock

from reconcile_support import apply, layouts, mutating_calls, opened

BUILD_DEV = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "build", "dev"))
HOLDER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from ansible_collections.gpuops.mig.plugins.module_utils._lock import host_lock
with host_lock(sys.argv[1], 5, "gpuops.mig.mig_instance"):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder():
    """Start a process that takes the lock at ``path`` and keeps it until told or killed."""
    children = []

    def start(path):
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, path, BUILD_DEV],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            universal_newlines=True,
        )
        children.append(child)
        assert child.stdout.readline().strip() == "held"
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.communicate()


def test_a_second_run_gives_up_after_the_timeout_naming_the_holder(tmp_path, holder):
    path = str(tmp_path / "gpuops-mig.lock")
    child = holder(path)
    with pytest.raises(LockTimeout) as raised:
        with host_lock(path, 0.2, "gpuops.mig.mig_mode"):
            pass
    message = str(raised.value)
    assert "pid %d" % child.pid in message and "gpuops.mig.mig_instance" in message
    assert "lock_timeout=0.2" in message and path in message
    assert raised.value.details()["lock_holder"]["pid"] == child.pid


def test_the_lock_of_a_killed_holder_does_not_block(tmp_path, holder):
    path = str(tmp_path / "gpuops-mig.lock")
    child = holder(path)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert os.path.exists(path)  # the file stays behind, the lock does not
    with host_lock(path, 0, "gpuops.mig.mig_mode") as held:
        assert held["pid"] == os.getpid()


def test_a_waiting_run_proceeds_when_the_holder_finishes(tmp_path, holder):
    path = str(tmp_path / "gpuops-mig.lock")
    child = holder(path)
    child.stdin.write("done\n")
    child.stdin.flush()
    with host_lock(path, 30, "gpuops.mig.mig_mode") as held:
        assert held["module"] == "gpuops.mig.mig_mode"
    assert child.wait() == 0


def test_a_locked_host_is_left_unchanged(make_host, holder):
    simulator = make_host("a30-x4")
    lock_path = host_files(simulator)[0]
    assert lock_path.startswith(simulator) and lock_path != simulator + ".lock"  # not the state file's own lock
    holder(lock_path)
    calls = mutating_calls(simulator)
    with pytest.raises(LockTimeout):
        apply(simulator, ["2g.12gb", "2g.12gb"], lock_timeout=0.1)
    assert mutating_calls(simulator) == calls
    assert layouts(simulator) == {0: [], 1: [], 2: [], 3: []}


SHARED_HOLDER = r"""
import sys
sys.path.insert(0, sys.argv[2])
from ansible_collections.gpuops.mig.plugins.module_utils._lock import SHARED, host_lock
with host_lock(sys.argv[1], 5, "gpuops.mig.gpu_info", mode=SHARED):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _shared_holder(path):
    child = subprocess.Popen([sys.executable, "-c", SHARED_HOLDER, path, BUILD_DEV], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             universal_newlines=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_readers_share_the_lock_and_keep_a_writer_out(tmp_path):
    path = str(tmp_path / "gpuops-mig.lock")
    reader = _shared_holder(path)
    try:
        with host_lock(path, 0, "gpuops.mig.cdi_spec", mode=SHARED) as held:  # a second reader gets in at once
            assert held["mode"] == SHARED
        with pytest.raises(LockTimeout) as raised:
            with host_lock(path, 0.2, "gpuops.mig.mig_instance"):
                pass
        assert "readers such as gpu_info" in str(raised.value)
    finally:
        reader.kill()
        reader.communicate()
    with host_lock(path, 0, "gpuops.mig.mig_instance") as held:
        assert held["mode"] == EXCLUSIVE


def test_a_reader_waits_for_a_writer(tmp_path, holder):
    path = str(tmp_path / "gpuops-mig.lock")
    child = holder(path)
    with pytest.raises(LockTimeout) as raised:
        with host_lock(path, 0.2, "gpuops.mig.gpu_info", mode=SHARED):
            pass
    assert "pid %d" % child.pid in str(raised.value)


def test_a_change_runs_under_a_lock_its_caller_holds(make_host):
    """run(lock=held): one exclusive lock for a whole host pass, not taken twice (taking
    it again would wait for itself and time out)."""
    simulator = make_host("a30-x4")
    with host_lock(host_files(simulator)[0], 0, "gpuops.mig.mig_instance") as held:
        with opened(simulator) as hardware:
            done = _reconcile.InstanceChange(hardware, lambda: desired_state({"layout": ["2g.12gb"]}, hardware, hardware.select(["1"]))).run(
                lock_timeout=0, lock=held
            )
            mode = _reconcile.MigModeChange(hardware, hardware.select(["2"]), True).run(lock_timeout=0, lock=held)
    assert done["changed"] is True and mode["changed"] is False
    assert [view.split("@")[0] for view in layouts(simulator)[1]] == ["2g.12gb"]


def test_a_shared_lock_is_not_enough_for_a_change(make_host):
    simulator = make_host("a30-x4")
    with host_lock(host_files(simulator)[0], 0, "gpuops.mig.gpu_info", mode=SHARED) as held:
        with opened(simulator) as hardware:
            with pytest.raises(MigError) as refused:
                _reconcile.MigModeChange(hardware, hardware.select(["2"]), True).run(lock=held)
    assert "exclusively" in str(refused.value)

"""The fmpm backend against recorded fmpm outputs: argument lists, JSON, failure text."""

import json

import pytest
from fabric_recordings import RecordedFmpm, load_text, recorded_run

from ansible_collections.gpuops.mig.plugins.module_utils import _fabric
from ansible_collections.gpuops.mig.plugins.module_utils._errors import HardwareError
from ansible_collections.gpuops.mig.plugins.module_utils._simulator.fm_lib import styled_json


def test_lists_partitions_from_styled_json_with_uuids_on_ampere():
    runner = RecordedFmpm({("fmpm", "-l", "--hostname", "10.1.2.3"): (0, load_text("fmpm_list_dgx_a100.txt"), "")})
    partitions = _fabric.FmpmBackend(runner, address="10.1.2.3").partitions()
    assert [p.partition_id for p in partitions] == [1, 7, 8, 11, 12, 13, 14] + list(range(19, 27))
    eleven = [p for p in partitions if p.partition_id == 11][0]
    assert eleven.active and [g.physical_id for g in eleven.gpus] == [1, 2]
    assert eleven.gpus[0].pci_bus_id == "00000000:07:00.0" and eleven.gpus[0].uuid.startswith("GPU-")


@pytest.mark.parametrize(
    "operation, argv, run, call, error",
    [
        ("activate", ["-a", "3"], "activate_in_use", "fmActivateFabricPartition", "FM_ST_IN_USE"),
        ("deactivate", ["-d", "4"], "deactivate_inactive", "fmDeactivateFabricPartition", "FM_ST_UNINITIALIZED"),
        ("list", ["-l"], "list_restart_pending", "fmGetSupportedFabricPartitions", "FM_ST_NOT_CONFIGURED"),
        ("list", ["-l"], "connect_failed", "fmConnect", "FM_ST_CONNECTION_NOT_VALID"),
        ("activate", ["-a", "3"], "invalid_partition_id", "fmActivateFabricPartition", "FM_ST_BADPARAM"),
        ("activate", ["-a", "3"], "invalid_argument", "fmActivateFabricPartition", "FM_ST_BADPARAM"),
    ],
)
def test_failures_are_read_from_the_text_and_the_wrapped_exit_status(operation, argv, run, call, error):
    runner = RecordedFmpm({tuple(["fmpm"] + argv + ["--unix-domain-socket", "/run/fm.sock"]): recorded_run(run)})
    backend = _fabric.FmpmBackend(runner, unix_socket="/run/fm.sock")
    with pytest.raises(HardwareError) as failure:
        {"activate": lambda: backend.activate(3), "deactivate": lambda: backend.deactivate(4), "list": backend.partitions}[
            operation
        ]()
    assert (failure.value.call, failure.value.error) == (call, error)


def test_silent_success_is_success():
    runner = RecordedFmpm({("fmpm", "-a", "6"): recorded_run("success_silent"), ("fmpm", "-d", "6"): recorded_run("success_silent")})
    backend = _fabric.FmpmBackend(runner)
    backend.activate(6)
    backend.deactivate(6)
    assert runner.argvs == [["fmpm", "-a", "6"], ["fmpm", "-d", "6"]]


def test_set_activated_sends_each_id_once_and_verifies_the_result(h100_partitions):
    listing = load_text("fmpm_list_dgx_h100.txt")  # partitions 3 and 5 active
    runner = RecordedFmpm({("fmpm", "--set-activated-list", "3,5"): recorded_run("success_silent"), ("fmpm", "-l"): (0, listing, "")})
    _fabric.FmpmBackend(runner).set_activated([5, 3, 5])
    assert runner.argvs[0] == ["fmpm", "--set-activated-list", "3,5"]


def test_set_activated_detects_an_fmpm_that_drops_the_list():
    # fmpm before commit 944a949 sent zero partitions: FM then reports none active.
    nothing_active = load_text("fmpm_list_dgx_h100.txt").replace('"isActive" : 1', '"isActive" : 0')
    runner = RecordedFmpm({("fmpm", "--set-activated-list", "3"): recorded_run("success_silent"), ("fmpm", "-l"): (0, nothing_active, "")})
    with pytest.raises(HardwareError) as failure:
        _fabric.FmpmBackend(runner).set_activated([3])
    assert failure.value.error == "FMPM_LIST_NOT_APPLIED" and "944a949" in str(failure.value)


def test_vfs_need_libnvfm():
    with pytest.raises(HardwareError) as failure:
        _fabric.FmpmBackend(RecordedFmpm({})).activate(3, vfs=[(0, 0xB3, 0, 4)])
    assert "fm_backend=libnvfm" in str(failure.value)


def test_unreadable_listing_is_a_clear_error():
    runner = RecordedFmpm({("fmpm", "-l"): (0, "Segmentation fault\n", "")})
    with pytest.raises(HardwareError) as failure:
        _fabric.FmpmBackend(runner).partitions()
    assert failure.value.error == "FMPM_BAD_OUTPUT"


@pytest.mark.parametrize("sample", ["styled_writer_partitions.txt", "styled_writer_unsupported.txt"])
def test_simulated_fmpm_prints_json_like_jsoncpp_styled_writer(sample):
    text = load_text(sample)
    assert styled_json(json.loads(text)) == text


def test_long_scalar_arrays_go_one_per_line_like_styled_writer():
    # 25 elements: size * 3 >= right margin 74 -> multi-line without measuring.
    rendered = styled_json({"ids": list(range(25))})
    assert rendered.startswith('{\n   "ids" : [\n      0,\n      1,\n')
    assert styled_json({"ids": [1, 2]}) == '{\n   "ids" : [ 1, 2 ]\n}\n'

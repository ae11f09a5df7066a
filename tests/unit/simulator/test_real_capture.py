"""The simulator answers the capture's NVML queries as the real H200 did.

Runs the project-independent nvml_dump.py (../shared/tools/gpu-readonly/, or .gpu-readonly/
in the checkout) against simulated hosts and compares field by field with the real dump
committed in tests/gpu/captures/h200-580.159.04/ (see its PROVENANCE.md), through
tests/gpu/compare_dump.py, the same comparison a real-GPU check prints."""

import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
GPU_TESTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "gpu")
CAPTURE = os.path.join(GPU_TESTS, "captures", "h200-580.159.04", "nvml-dump.json")

_spec = importlib.util.spec_from_file_location("compare_dump", os.path.join(GPU_TESTS, "compare_dump.py"))
compare_dump = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_dump)


@pytest.fixture(scope="module")
def real():
    with open(CAPTURE) as stream:
        return json.load(stream)


@pytest.fixture(scope="module")
def nvml_dump():
    found = [path for path in compare_dump.NVML_DUMP_CANDIDATES if os.path.isfile(path)]
    if not found:
        pytest.skip("nvml_dump.py is not beside the checkout (../shared/tools/gpu-readonly)")
    return found[0]


def _differences(real, nvml_dump, tmp_path, preset, board_only=False):
    chosen, simulated = compare_dump.simulated_dump(preset, nvml_dump, workdir=str(tmp_path), real=real)
    differences, compared = compare_dump.compare(real, simulated, board_only=board_only)
    return chosen, ["%s: real %r, simulated %r" % difference for difference in differences], compared


def test_the_capture_machine_answers_every_query_as_the_real_gpu(real, nvml_dump, tmp_path):
    chosen, differences, compared = _differences(real, nvml_dump, tmp_path, None)
    assert chosen == "h200-passthrough-vm"
    assert differences == []
    assert compared > 150  # every profile enum and device query of the dump took part


def test_hgx_h200_answers_the_board_queries_as_the_real_gpu(real, nvml_dump, tmp_path):
    """The HGX preset is bare metal with NVSwitch: only GPU count, virtualization mode and
    fabric probe may differ from the one-GPU VM that was captured."""
    assert _differences(real, nvml_dump, tmp_path / "board", "hgx-h200", board_only=True)[1] == []
    deployment = _differences(real, nvml_dump, tmp_path / "all", "hgx-h200")[1]
    assert [line.split(":")[0] for line in deployment] == [
        "device_count", "devices[0].fabric_info.cliqueId", "devices[0].fabric_info.healthSummary",
        "devices[0].fabric_info.state", "devices[0].virtualization_mode"]


def test_the_comparison_reports_a_differing_answer(real):
    changed = json.loads(json.dumps(real))
    changed["devices"][0]["gi_profiles"][1]["info"]["memorySizeMB"] = 33024
    changed["devices"][0]["uuid"] = "GPU-another"
    differences, compared = compare_dump.compare(real, changed)
    assert differences == [("devices[0].gi_profiles[1].info.memorySizeMB", 33280, 33024)]
    assert compare_dump.compare(real, real) == ([], compared)

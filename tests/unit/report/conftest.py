"""Fixtures of the report tests: a known simulated fleet as gpu_info reports it."""

import pytest
from report_hosts import build_dgx_h100, build_rtx_pro, gpu_info


@pytest.fixture(scope="session")
def known_fleet(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report-fleet")
    h100, rtx = str(directory / "dgx-h100.json"), str(directory / "rtx.json")
    facts = {"h100": build_dgx_h100(h100), "rtx": build_rtx_pro(rtx)}
    fleet = {"dgx-h100-1": gpu_info(h100), "rtx-pro-1": gpu_info(rtx)}
    return fleet, facts

"""The fleet report drawn from gpu_info results of simulated hosts with known layouts."""

import copy
import re

import pytest
from ansible.errors import AnsibleFilterError
from report_dom import parse
from report_hosts import gpu_info

from ansible_collections.gpuops.mig.plugins.filter.mig_report import FilterModule
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware
from ansible_collections.gpuops.mig.plugins.module_utils._simulator import host

mig_report = FilterModule().filters()["mig_report"]


@pytest.fixture(scope="module")
def report(known_fleet):
    fleet, facts = known_fleet
    return parse(mig_report(fleet, title="Lab fleet")), fleet, facts


def gpu_block(document, host, index):
    return document.find("section", data_host=host).find("div", css_class="gpu", data_gpu_index=index)


def slots(gpu):
    return sorted(gpu.find_all("rect", css_class="slot"), key=lambda rect: int(rect.attrs["data-slot"]))


def blocks(gpu):
    """{(profile, gi id, start, size)} of the GPU instance blocks drawn for a GPU."""
    return {
        (group.attrs["data-profile"], int(group.attrs["data-gi-id"]), int(group.attrs["data-start"]), int(group.attrs["data-size"]))
        for group in gpu.find_all("g", css_class="gi")
    }


def test_each_gpu_instance_is_a_block_over_its_memory_slots(report):
    document, _fleet, facts = report
    gpu = gpu_block(document, "dgx-h100-1", 2)
    h100 = facts["h100"]
    assert blocks(gpu) == {("3g.40gb", h100["three"], 0, 4), ("1g.20gb", h100["one_g"], 6, 2)}
    columns = slots(gpu)
    assert [rect.attrs["data-slot"] for rect in columns] == [str(slot) for slot in range(8)]
    for group in gpu.find_all("g", css_class="gi"):
        start, size = int(group.attrs["data-start"]), int(group.attrs["data-size"])
        rect = group.find("rect", css_class="gi-block")
        first, last = columns[start], columns[start + size - 1]
        # The block spans exactly its columns (a pixel of margin on each side).
        assert abs(rect.number("x") - first.number("x")) <= 1.5
        assert abs(rect.number("x") + rect.number("width") - (last.number("x") + last.number("width"))) <= 1.5
        labels = [text.text() for text in group.find_all("text") if text.parent is group]
        assert labels == [group.attrs["data-profile"], "GI %s" % group.attrs["data-gi-id"]]


def test_compute_instances_are_drawn_inside_their_gpu_instance(report):
    document, _fleet, facts = report
    h100 = facts["h100"]
    three = gpu_block(document, "dgx-h100-1", 2).find("g", css_class="gi", data_gi_id=h100["three"])
    outer = three.find("rect", css_class="gi-block")
    computes = dict((group.attrs["data-profile"], group) for group in three.find_all("g", css_class="ci"))
    assert sorted(computes) == ["1c.3g.40gb", "2c.3g.40gb"]
    rects = dict((name, group.find("rect", css_class="ci-block")) for name, group in computes.items())
    for name, rect in rects.items():
        assert outer.number("x") < rect.number("x") < rect.number("x") + rect.number("width") < outer.number("x") + outer.number("width")
        texts = [text.text() for text in computes[name].find_all("text")]
        assert texts == [name, "CI %s" % computes[name].attrs["data-ci-id"]]
    assert computes["2c.3g.40gb"].attrs["data-ci-id"] == str(h100["two_c"])
    # 2c at compute slice 0, 1c at compute slice 2: left to right, the 2c twice as wide.
    two, one = rects["2c.3g.40gb"], rects["1c.3g.40gb"]
    assert two.number("x") + two.number("width") < one.number("x")
    assert two.number("width") == pytest.approx(2 * one.number("width") + 6, abs=1)  # + the padding of one block
    # The GPU instance without compute instance has an empty block.
    assert gpu_block(document, "dgx-h100-1", 2).find("g", css_class="gi", data_gi_id=h100["one_g"]).find_all("g", css_class="ci") == []


def test_full_gpus_of_single_slice_instances_and_an_empty_mig_gpu(report):
    document, fleet, _facts = report
    for index in (0, 1):
        gpu = gpu_block(document, "dgx-h100-1", index)
        drawn = blocks(gpu)
        assert sorted(start for _profile, _gi, start, _size in drawn) == list(range(7))
        assert {(profile, size) for profile, _gi, _start, size in drawn} == {("1g.10gb", 1)}
        reported = {instance["gi_id"] for instance in fleet["dgx-h100-1"]["gpus"][index]["gpu_instances"]}
        assert {gi for _profile, gi, _start, _size in drawn} == reported
        assert len(gpu.find_all("g", css_class="ci")) == 7
    empty = gpu_block(document, "dgx-h100-1", 3)
    assert blocks(empty) == set() and len(slots(empty)) == 8


def test_gpus_without_mig_are_drawn_whole(report):
    document, _fleet, _facts = report
    for host, index in (("dgx-h100-1", 4), ("rtx-pro-1", 3)):
        gpu = gpu_block(document, host, index)
        assert gpu.find_all("g", css_class="gi") == [] and slots(gpu) == []
        assert gpu.find("text", css_class="whole-label").text() == "whole GPU: MIG disabled"
        assert gpu.find_all("ul", css_class="free") == []


def test_rtx_pro_6000_uses_its_twelve_unit_grid(report):
    document, _fleet, facts = report
    gpu = gpu_block(document, "rtx-pro-1", 0)
    assert len(slots(gpu)) == 12
    rtx = facts["rtx"]
    assert blocks(gpu) == {("2g.48gb", rtx["two"].gi_id, 0, 6), ("1g.24gb", rtx["one"].gi_id, 6, 3)}
    assert gpu.find("p", css_class="free-slots").attrs["data-free-slots"] == "3"


def test_free_capacity_is_what_gpu_info_reports(report):
    document, fleet, _facts = report
    compared = 0
    for host, result in fleet.items():
        for entry in result["gpus"]:
            gpu = gpu_block(document, host, entry["index"])
            if not entry["mig_current"]:
                continue
            shown = dict((item.attrs["data-profile"], int(item.attrs["data-remaining"])) for item in gpu.find("ul", css_class="free").find_all("li"))
            assert shown == dict((profile["name"], profile["remaining_capacity"]) for profile in entry["profiles"])
            for item in gpu.find("ul", css_class="free").find_all("li"):
                assert item.text() == "%s \u00d7 %s" % (item.attrs["data-profile"], item.attrs["data-remaining"])
                assert ("none" in item.classes) == (item.attrs["data-remaining"] == "0")
            compared += 1
    assert compared == 5
    # Memory slots no GPU instance covers, for the layouts built here.
    free = dict((index, gpu_block(document, "dgx-h100-1", index).find("p", css_class="free-slots").attrs["data-free-slots"]) for index in range(4))
    assert free == {0: "1", 1: "1", 2: "2", 3: "8"}
    # The empty H100 can still take every profile: 7 x 1g.10gb, 1 x 7g.80gb, ...
    empty = gpu_block(document, "dgx-h100-1", 3).find("ul", css_class="free")
    assert empty.find("li", data_profile="1g.10gb").attrs["data-remaining"] == "7"
    assert empty.find("li", data_profile="7g.80gb").attrs["data-remaining"] == "1"


def test_fabric_partitions_and_their_state(report):
    document, fleet, facts = report
    section = document.find("section", data_host="dgx-h100-1")
    rows = section.find("table", css_class="fabric").find_all("tr")[1:]
    partitions = fleet["dgx-h100-1"]["fabric"]["partitions"]
    assert [row.attrs["data-partition-id"] for row in rows] == [str(p["id"]) for p in partitions]
    active = [row for row in rows if row.attrs["data-active"] == "true"]
    assert [row.attrs["data-partition-id"] for row in active] == [str(facts["h100"]["partition"])]
    assert active[0].find_all("td")[2].text() == "GPU 4, GPU 5, GPU 6, GPU 7"
    assert "1 of %d active" % len(partitions) in section.find("summary").text()
    for index in range(8):
        heading = gpu_block(document, "dgx-h100-1", index).find("h3").text()
        assert ("in active fabric partition %s" % facts["h100"]["partition"] in heading) == (index >= 4)
    # The RTX PRO host has no Fabric Manager: said so, no table.
    rtx = document.find("section", data_host="rtx-pro-1")
    assert "fabric: not available" in rtx.find("p", css_class="meta").text()
    assert rtx.find_all("table") == []


def test_summary_and_navigation(report):
    document, _fleet, _facts = report
    assert document.find("head").find("title").text() == document.find("h1").text() == "Lab fleet"
    assert document.find("p", css_class="summary").text().startswith("2 hosts, 12 GPUs (5 with MIG enabled), 18 GPU instances, 17 MIG devices")
    targets = [anchor.attrs["href"] for anchor in document.find("nav").find_all("a")]
    assert targets == ["#" + section.attrs["id"] for section in document.find_all("section", css_class="host")]


def test_the_page_is_self_contained(report):
    document, fleet, _facts = report
    html = mig_report(fleet)
    assert not document.find_all("script") and not document.find_all("link") and not document.find_all("img")
    for element in document.iter():
        for name, value in element.attrs.items():
            assert not (name in ("href", "src") and not value.startswith("#")), (element.tag, name, value)
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"] * html.count("<svg")
    assert "url(" not in html and "@import" not in html


def test_failed_hosts_are_listed_and_the_rest_still_drawn(known_fleet):
    fleet, _facts = known_fleet
    broken = dict(fleet)
    broken["gpu-9"] = {"failed": True, "msg": "Failed to import the required Python library (nvidia-ml-py)"}
    broken["gpu-10"] = None
    document = parse(mig_report(broken))
    assert document.find("section", data_host="gpu-9").find("p", css_class="failed").text().startswith("Failed to import")
    assert "unreachable before gpu_info ran" in document.find("section", data_host="gpu-10").find("p", css_class="failed").text()
    assert document.find("p", css_class="summary").text().endswith("; 2 hosts without inventory")
    assert len(document.find_all("div", css_class="gpu")) == 12


def test_names_from_the_inventory_are_escaped(known_fleet):
    fleet, _facts = known_fleet
    hostile = {'<script>alert("x")</script>': copy.deepcopy(fleet["rtx-pro-1"])}
    html = mig_report(hostile, title="a & b <i>")
    assert "<script>" not in html and "<i>" not in html
    document = parse(html)
    assert document.find("h1").text() == "a & b <i>"
    assert document.find("section", css_class="host").attrs["data-host"] == '<script>alert("x")</script>'


def test_output_depends_only_on_the_input(known_fleet):
    fleet, _facts = known_fleet
    reordered = dict(reversed(list(copy.deepcopy(fleet).items())))
    assert mig_report(fleet) == mig_report(reordered)
    assert mig_report(fleet, format="text") == mig_report(reordered, format="text")


def test_text_summary(known_fleet):
    fleet, _facts = known_fleet
    lines = mig_report(fleet, format="text").splitlines()
    assert lines[0].startswith("gpuops.mig fleet report: 2 hosts, 12 GPUs (5 with MIG enabled)")
    assert lines[1].startswith("dgx-h100-1 (simulator, driver ")
    assert "fabric: shared_nvswitch via simulator, 1 of " in lines[1]
    gpu_lines = dict((line.split()[1], line) for line in lines[2:10])
    assert gpu_lines["0"].split()[2:] == ["MIG", "on", "1g.10gb", "x7", "free", "1/8", "slots"]
    assert gpu_lines["2"].split()[2:] == ["MIG", "on", "1g.20gb", "x1,", "3g.40gb", "x1", "free", "2/8", "slots"]
    assert gpu_lines["3"].split()[2:] == ["MIG", "on", "no", "GPU", "instances", "free", "8/8", "slots"]
    assert gpu_lines["5"].split()[2:] == ["MIG", "off", "-"]
    assert lines[10].startswith("rtx-pro-1 (simulator, driver ")
    # A host without Fabric Manager: the error name only, the full reason is in the HTML.
    assert lines[10].endswith("fabric: not available (fmConnect failed: FM_ST_CONNECTION_NOT_VALID))")
    assert lines[11].split()[2:] == ["MIG", "on", "1g.24gb", "x1,", "2g.48gb", "x1", "free", "3/12", "slots"]


def test_bad_input_is_refused_with_a_clear_message(known_fleet):
    fleet, _facts = known_fleet
    with pytest.raises(AnsibleFilterError, match=r"format='pdf' is not supported \(valid: html, text\)"):
        mig_report(fleet, format="pdf")
    with pytest.raises(AnsibleFilterError, match="must map each host name to its gpu_info result, got list"):
        mig_report([fleet["rtx-pro-1"]])
    mangled = copy.deepcopy(fleet["rtx-pro-1"])
    del mangled["gpus"][1]["profiles"]
    with pytest.raises(AnsibleFilterError, match=r"fleet\.rtx-pro-1\.gpus\[1\].*profiles"):
        mig_report({"rtx-pro-1": mangled})


def test_a_pending_mig_mode_change_is_shown(tmp_path):
    path = str(tmp_path / "dgx-a100.json")
    host.create_host(path, "dgx-a100")
    with Hardware(simulator=path) as hardware:
        hardware.set_mig_mode(0, True)  # Ampere: takes effect at the next GPU reset
    fleet = {"dgx-a100-1": gpu_info(path)}
    gpu = gpu_block(parse(mig_report(fleet)), "dgx-a100-1", 0)
    assert gpu.find("h3").text().endswith("MIG disabled (enabled after reset)")
    assert gpu.find("text", css_class="whole-label").text() == "whole GPU: MIG disabled (enabled after reset)"
    assert mig_report(fleet, format="text").splitlines()[2].split()[:7] == ["GPU", "0", "MIG", "off", "(on", "after", "reset)"]

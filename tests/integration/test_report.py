"""playbooks/report.yml through ansible-playbook on simulated hosts with known layouts."""

import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "report"))

from report_dom import parse  # noqa: E402
from report_hosts import build_dgx_h100, build_rtx_pro, gpu_info  # noqa: E402

REPORT = REPO / "playbooks" / "report.yml"


def _inventory(tmp_path, hosts):
    """An inventory of simulated hosts on the local connection, in the site.yml groups."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "bare_metal": {"hosts": dict((name, {"gpuops_mig_simulator": path}) for name, path in hosts.items())},
                "passthrough": {"hosts": {}},
                "sriov": {"hosts": {}},
            },
        }
    }
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def _recap(stdout, host):
    return dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", re.search(r"^%s\s+:(.*)$" % re.escape(host), stdout, re.M).group(1)))


def _summary(stdout):
    """The lines of the summary task's msg, as ansible-playbook printed them."""
    block = stdout.split("TASK [gpuops.mig.report : Show the fleet summary]")[1]
    return re.findall(r'^\s+"(.*)",?$', block.split("PLAY RECAP")[0], re.M)


def test_report_of_a_fleet(tmp_path, playbook_runner):
    h100, rtx = str(tmp_path / "dgx-h100.json"), str(tmp_path / "rtx.json")
    facts = build_dgx_h100(h100)
    build_rtx_pro(rtx)
    inventory = _inventory(tmp_path, {"dgx-h100-01": h100, "rtx-pro-01": rtx})
    report = tmp_path / "out" / "fleet.html"

    result = playbook_runner(REPORT, {"report_path": str(report), "report_title": "Lab"}, inventory=inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    document = parse(report.read_text())
    assert (report.stat().st_mode & 0o777) == 0o644
    assert document.find("h1").text() == "Lab"
    assert [section.attrs["data-host"] for section in document.find_all("section", css_class="host")] == ["dgx-h100-01", "rtx-pro-01"]
    gpu = document.find("section", data_host="dgx-h100-01").find("div", css_class="gpu", data_gpu_index=2)
    drawn = {
        (g.attrs["data-profile"], int(g.attrs["data-gi-id"]), int(g.attrs["data-start"]), int(g.attrs["data-size"])) for g in gpu.find_all("g", css_class="gi")
    }
    assert drawn == {("3g.40gb", facts["three"], 0, 4), ("1g.20gb", facts["one_g"], 6, 2)}
    # Free capacity as gpu_info reports it right now.
    for host, path in (("dgx-h100-01", h100), ("rtx-pro-01", rtx)):
        for entry in gpu_info(path)["gpus"]:
            if entry["mig_current"]:
                shown = document.find("section", data_host=host).find("div", css_class="gpu", data_gpu_index=entry["index"]).find("ul", css_class="free")
                assert dict((li.attrs["data-profile"], int(li.attrs["data-remaining"])) for li in shown.find_all("li")) == dict(
                    (profile["name"], profile["remaining_capacity"]) for profile in entry["profiles"]
                )
    summary = _summary(result.stdout)
    assert summary[0].startswith("Lab: 2 hosts, 12 GPUs (5 with MIG enabled)")
    assert summary[-1] == "report: %s" % report
    assert any(line.split()[:2] == ["GPU", "2"] and line.endswith("free 2/8 slots") for line in summary)
    # Reading is all it does; the unchanged fleet gives the same file.
    assert _recap(result.stdout, "dgx-h100-01")["changed"] == 2  # the directory and the file
    again = playbook_runner(REPORT, {"report_path": str(report), "report_title": "Lab"}, inventory=inventory)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _recap(again.stdout, "dgx-h100-01")["changed"] == 0 and _recap(again.stdout, "rtx-pro-01")["changed"] == 0


def test_a_failing_host_is_reported_without_hiding_the_others(tmp_path, playbook_runner):
    rtx = str(tmp_path / "rtx.json")
    build_rtx_pro(rtx)
    missing = str(tmp_path / "never-created.json")
    inventory = _inventory(tmp_path, {"gpu-lost": missing, "rtx-pro-01": rtx})
    report = tmp_path / "fleet.html"
    result = playbook_runner(REPORT, {"report_path": str(report)}, inventory=inventory)
    assert result.returncode == 2, result.stdout + result.stderr  # the failed host fails the run
    assert _recap(result.stdout, "gpu-lost")["failed"] == 1
    document = parse(report.read_text())
    # The failed gpu_info result stays registered: its message is shown.
    assert document.find("section", data_host="gpu-lost").find("p", css_class="failed").text() == (
        "simulator=%r: simulated host state file %s does not exist" % (missing, missing)
    )
    assert len(document.find("section", data_host="rtx-pro-01").find_all("div", css_class="gpu")) == 4
    assert _summary(result.stdout)[0].endswith("; 1 host without inventory")


def test_check_mode_reads_but_writes_nothing(tmp_path, playbook_runner):
    rtx = str(tmp_path / "rtx.json")
    build_rtx_pro(rtx)
    report = tmp_path / "fleet.html"
    result = playbook_runner(REPORT, {"report_path": str(report)}, inventory=_inventory(tmp_path, {"rtx-pro-01": rtx}), check=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not report.exists()
    assert _summary(result.stdout)[1].startswith("rtx-pro-01 (simulator, driver ")

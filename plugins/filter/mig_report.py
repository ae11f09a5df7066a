# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: mig_report
short_description: Render a fleet of gpu_info results as an HTML report or a plain-text summary
version_added: 1.0.0
author: gpuops maintainers (@gpuops)
description:
  - Takes what C(gpuops.mig.gpu_info) returned on each host (a mapping of host name to
    result, as O(gpuops.mig.mig_plan#module:fleet) takes it) and returns one HTML page
    with inline CSS and SVG only (no scripts, no network), or with O(format=text) a
    plain-text summary for the console.
  - Per host and GPU it draws the MIG layout as a slot diagram, like the figures of the MIG
    user guide; memory slots (grid units of the board's placement grid, 8 on most boards,
    12 on RTX PRO 6000) are the columns, each GPU instance is a block spanning its placement,
    labelled with its profile and GI id, with its compute instances inside.
  - Under each diagram it lists the free capacity as C(gpu_info) reports it (the remaining
    capacity of every GPU-instance profile and the memory slots no GPU instance covers),
    and per host the NVSwitch fabric partitions with their state.
  - A host whose value is not a successful C(gpu_info) result (it failed, was unreachable
    or did not run) is shown as such with the message it returned, so one broken host does
    not hide the rest of the fleet.
  - The output only depends on the input (no time stamps), so writing it with
    C(ansible.builtin.copy) reports a change only when the fleet changed.
options:
  _input:
    description: "C({inventory host name: registered gpu_info result})."
    type: dict
    required: true
  format:
    description:
      - V(html) for the report page, V(text) for the summary (one line for the fleet, one
        per host and one per GPU with its MIG mode, GPU instances by profile and free
        memory slots).
    type: str
    choices: [html, text]
    default: html
  title:
    description: Page title and heading (first words of the summary line in V(text)).
    type: str
    default: gpuops.mig fleet report
seealso:
  - module: gpuops.mig.gpu_info
  - module: gpuops.mig.mig_plan
"""

EXAMPLES = r"""
- name: Write the fleet report on the controller
  ansible.builtin.copy:
    dest: /var/www/html/mig.html
    content: "{{ fleet | gpuops.mig.mig_report(title='GPU fleet') }}"
    mode: "0644"
  vars:
    fleet: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'gpu_inventory'))) }}"
  run_once: true
  delegate_to: localhost

- name: Print the summary
  ansible.builtin.debug:
    msg: "{{ (fleet | gpuops.mig.mig_report(format='text')).splitlines() }}"
"""

RETURN = r"""
_value:
  description: The HTML document (O(format=html)) or the summary lines joined by newlines (O(format=text)).
  type: str
"""

from html import escape

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.gpuops.mig.plugins.module_utils._errors import MigError
from ansible_collections.gpuops.mig.plugins.module_utils._fleet_input import _active_partitions, planner_gpus
from ansible_collections.gpuops.mig.plugins.module_utils._placement import board_for

DEFAULT_TITLE = "gpuops.mig fleet report"

# Diagram geometry in CSS pixels.
DIAGRAM_WIDTH = 640
SLOT_ROW = 18  # the row of slot numbers above the blocks
GI_HEIGHT = 76
CI_HEIGHT = 28
WHOLE_GPU_HEIGHT = 34
PAD = 3
CHARACTER_WIDTH = {11: 6.4, 10: 5.8}  # rough average glyph width of the sans-serif font

# Block colours by the GPU instance's compute slices (1g, 2g, 3g, 4g, 7g/8g).
GI_COLOURS = {1: "#cfe3ff", 2: "#d5f2d5", 3: "#ffe6c2", 4: "#f6d3e6"}
LARGE_GI_COLOUR = "#e2dafb"

STYLE = """
body{font-family:"DejaVu Sans",Arial,Helvetica,sans-serif;margin:24px;color:#1d232b;background:#fff}
h1{font-size:22px;margin:0 0 6px}
h2{font-size:18px;margin:28px 0 4px;padding-top:10px;border-top:2px solid #d8dee6}
h3{font-size:14px;margin:16px 0 4px}
.summary{margin:0 0 8px;font-size:14px}
nav a{margin-right:12px;font-size:13px}
.meta{font-size:13px;color:#4a5562;margin:0 0 6px}
.gpu{margin-left:8px}
svg.layout{display:block;margin:4px 0;font-family:"DejaVu Sans",Arial,Helvetica,sans-serif}
.slot{fill:#f4f6f9;stroke:#c5ccd6}
.slot-number{font-size:10px;fill:#6b7480;text-anchor:middle}
.gi-block{stroke:#39424e;stroke-width:1.2}
.gi-label{font-size:11px;font-weight:bold;fill:#1d232b}
.gi-id{font-size:10px;fill:#39424e}
.ci-block{fill:#ffffff;fill-opacity:.75;stroke:#56606c;stroke-dasharray:3 2}
.ci-label{font-size:10px;fill:#1d232b;text-anchor:middle}
.whole-gpu{fill:#eceff3;stroke:#8a94a1}
.whole-label{font-size:12px;fill:#4a5562;text-anchor:middle}
ul.free{list-style:none;padding:0;margin:4px 0;font-size:12px;display:flex;flex-wrap:wrap;gap:4px}
ul.free li{border:1px solid #b8c7d8;border-radius:3px;padding:1px 6px;background:#f3f8fd}
ul.free li.none{color:#98a1ab;border-color:#e1e5ea;background:#fafbfc}
.free-slots{font-size:12px;margin:2px 0 8px}
details.fabric{font-size:13px;margin:6px 0 10px}
details.fabric summary{cursor:pointer}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #d0d6de;padding:3px 8px;text-align:left}
th{background:#f0f3f7}
.active{color:#176b2c;font-weight:bold}
.inactive{color:#6b7480}
.failed{color:#a4141b}
"""


def _text(value):
    return escape(to_text(value), quote=False)


def _attr(value):
    return escape(to_text(value), quote=True)


def _number(value):
    """Coordinates without needless decimals (keeps the output stable and short)."""
    return ("%.2f" % value).rstrip("0").rstrip(".")


# -- view model -------------------------------------------------------------------------


def _successful(result):
    return isinstance(result, dict) and isinstance(result.get("gpus"), list) and not result.get("failed")


def _failure_message(result):
    if isinstance(result, dict) and result.get("msg"):
        return to_text(result["msg"])
    return "no gpu_info result (the host failed or was unreachable before gpu_info ran)"


def _gpu_view(entry, grid):
    profiles = dict((profile["profile_id"], profile) for profile in entry["profiles"])
    instances = []
    for instance in entry["gpu_instances"]:
        profile = profiles.get(instance["profile_id"], {})
        instances.append(
            {
                "gi_id": instance["gi_id"],
                "profile": instance["profile"],
                "start": instance["placement"]["start"],
                "size": instance["placement"]["size"],
                "compute_slices": profile.get("slice_count") or 1,
                "processes": len(instance["processes"]),
                "compute_instances": instance["compute_instances"],
            }
        )
    covered = set()
    for instance in instances:
        covered.update(range(instance["start"], instance["start"] + instance["size"]))
    return {
        "index": entry["index"],
        "name": entry["name"],
        "pci_bus_id": entry["pci_bus_id"],
        "uuid": entry["uuid"],
        "mig_capable": entry["mig_capable"],
        "mig_current": entry["mig_current"],
        "mig_pending": entry["mig_pending"],
        "grid": grid,
        "instances": instances,
        "free_slots": grid - len(covered) if entry["mig_current"] else None,
        "remaining": [(profile["name"], profile["remaining_capacity"]) for profile in entry["profiles"] if profile["remaining_capacity"] is not None],
        "mig_devices": len(entry["mig_devices"]),
    }


def fleet_view(fleet):
    """Hosts in name order, each with its GPUs ready to draw (or its failure message)."""
    if not isinstance(fleet, dict):
        raise AnsibleFilterError("mig_report: the input must map each host name to its gpu_info result, got %s" % type(fleet).__name__)
    hosts = []
    for name in sorted(fleet, key=to_text):
        result = fleet[name]
        if not _successful(result):
            hosts.append({"name": to_text(name), "failed": _failure_message(result)})
            continue
        try:
            typed = planner_gpus({name: result})
        except MigError as error:
            raise AnsibleFilterError("mig_report: %s" % error)
        grids = dict((gpu["index"], board_for(gpu["profiles"]).grid) for gpu in typed)
        fabric = result.get("fabric") or {}
        hosts.append(
            {
                "name": to_text(name),
                "failed": None,
                "backend": result.get("backend"),
                "driver": result.get("driver_version"),
                "fabric": fabric,
                "active_partition": _active_partitions(fabric),
                "gpus": [_gpu_view(entry, grids[entry["index"]]) for entry in result["gpus"]],
            }
        )
    return hosts


def _totals(hosts):
    gpus = [gpu for host in hosts if not host["failed"] for gpu in host["gpus"]]
    mig_on = [gpu for gpu in gpus if gpu["mig_current"]]
    return {
        "hosts": len(hosts),
        "failed": sum(1 for host in hosts if host["failed"]),
        "gpus": len(gpus),
        "mig_on": len(mig_on),
        "instances": sum(len(gpu["instances"]) for gpu in gpus),
        "mig_devices": sum(gpu["mig_devices"] for gpu in gpus),
        "free_gpus": sum(gpu["free_slots"] / float(gpu["grid"]) for gpu in mig_on if gpu["grid"]),
    }


def _count(number, noun):
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def _summary_line(totals):
    # Boards have different grids (8 or 12 units), so free slots add up as fractions of a GPU.
    line = "%s, %s (%d with MIG enabled), %s, %s, free memory slots worth %.1f of those %d GPUs" % (
        _count(totals["hosts"], "host"),
        _count(totals["gpus"], "GPU"),
        totals["mig_on"],
        _count(totals["instances"], "GPU instance"),
        _count(totals["mig_devices"], "MIG device"),
        totals["free_gpus"],
        totals["mig_on"],
    )
    if totals["failed"]:
        line += "; %s without inventory" % _count(totals["failed"], "host")
    return line


def _mig_state(gpu, brief=False):
    """MIG mode in effect, and the pending one when a reset is due."""
    if not gpu["mig_capable"]:
        return "no MIG" if brief else "not MIG capable"
    words = ("on", "off") if brief else ("enabled", "disabled")
    state = "MIG %s" % words[0 if gpu["mig_current"] else 1]
    if gpu["mig_pending"] != gpu["mig_current"]:
        state += " (%s after reset)" % words[0 if gpu["mig_pending"] else 1]
    return state


def _fabric_line(fabric, brief=False):
    """The fabric state in one line; ``brief`` keeps only the error name of a failure."""
    if not fabric:
        return "fabric: not queried"
    if not fabric.get("available"):
        reason = to_text(fabric.get("reason", ""))
        return "fabric: not available (%s)" % (reason.split(" (")[0] if brief else reason)
    partitions = fabric.get("partitions") or []
    line = "fabric: %s via %s" % (fabric.get("mode"), fabric.get("fm_backend"))
    if partitions:
        line += ", %d of %d partitions active" % (sum(1 for p in partitions if p.get("active")), len(partitions))
    if fabric.get("restart_pending"):
        line += ", Fabric Manager restart pending"
    return line


# -- SVG --------------------------------------------------------------------------------


def _label(x, y, width, text, css_class, anchor_middle=False):
    """A text element that is squeezed (never clipped) when it is wider than its block."""
    size = 11 if css_class == "gi-label" else 10
    room = max(width - 2 * PAD - 2, 4)
    fit = ""
    if len(text) * CHARACTER_WIDTH[size] > room:
        fit = ' textLength="%s" lengthAdjust="spacingAndGlyphs"' % _number(room)
    position = x + width / 2.0 if anchor_middle else x + PAD + 1
    return '<text class="%s" x="%s" y="%s"%s>%s</text>' % (css_class, _number(position), _number(y), fit, _text(text))


def _compute_instance_svg(ci, gi_x, gi_width, compute_slices, y):
    slice_width = gi_width / float(max(compute_slices, 1))
    x = gi_x + ci["placement"]["start"] * slice_width + PAD
    width = ci["placement"]["size"] * slice_width - 2 * PAD
    tooltip = "CI %s %s %s" % (ci["ci_id"], ci["profile"], ci["mig_uuid"] or "")
    return (
        '<g class="ci" data-ci-id="%s" data-profile="%s" data-start="%s" data-size="%s">'
        "<title>%s</title>"
        '<rect class="ci-block" x="%s" y="%s" width="%s" height="%s" rx="2"/>%s%s</g>'
        % (
            _attr(ci["ci_id"]),
            _attr(ci["profile"]),
            _attr(ci["placement"]["start"]),
            _attr(ci["placement"]["size"]),
            _text(tooltip.strip()),
            _number(x),
            _number(y),
            _number(width),
            CI_HEIGHT,
            _label(x, y + 12, width, ci["profile"], "ci-label", anchor_middle=True),
            _label(x, y + 24, width, "CI %s" % ci["ci_id"], "ci-label", anchor_middle=True),
        )
    )


def _gpu_instance_svg(instance, slot_width):
    x = instance["start"] * slot_width + 1
    width = instance["size"] * slot_width - 2
    y = SLOT_ROW + 2
    colour = GI_COLOURS.get(instance["compute_slices"], LARGE_GI_COLOUR)
    parts = [
        '<g class="gi" data-gi-id="%s" data-profile="%s" data-start="%s" data-size="%s">'
        % (_attr(instance["gi_id"]), _attr(instance["profile"]), _attr(instance["start"]), _attr(instance["size"])),
        "<title>GI %s %s, memory slots %d-%d%s</title>"
        % (
            _text(instance["gi_id"]),
            _text(instance["profile"]),
            instance["start"],
            instance["start"] + instance["size"] - 1,
            ", %d processes" % instance["processes"] if instance["processes"] else "",
        ),
        '<rect class="gi-block" x="%s" y="%s" width="%s" height="%s" rx="3" fill="%s"/>' % (_number(x), y, _number(width), GI_HEIGHT, colour),
        _label(x, y + 14, width, instance["profile"], "gi-label"),
        _label(x, y + 27, width, "GI %s" % instance["gi_id"], "gi-id"),
    ]
    for ci in instance["compute_instances"]:
        parts.append(_compute_instance_svg(ci, x, width, instance["compute_slices"], y + GI_HEIGHT - CI_HEIGHT - PAD))
    parts.append("</g>")
    return "".join(parts)


def _svg_head(gpu, height):
    return '<svg class="layout" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">' % (
        DIAGRAM_WIDTH,
        height,
        DIAGRAM_WIDTH,
        height,
        _attr("MIG layout of GPU %s" % gpu["index"]),
    )


def _whole_gpu_diagram(gpu):
    """One box for a GPU without MIG: there are no slots to draw."""
    return "%s%s%s</svg>" % (
        _svg_head(gpu, WHOLE_GPU_HEIGHT + 2),
        '<rect class="whole-gpu" x="1" y="1" width="%d" height="%d" rx="3"/>' % (DIAGRAM_WIDTH - 2, WHOLE_GPU_HEIGHT),
        '<text class="whole-label" x="%d" y="%d">%s</text>' % (DIAGRAM_WIDTH // 2, WHOLE_GPU_HEIGHT // 2 + 5, _text("whole GPU: " + _mig_state(gpu))),
    )


def _diagram(gpu):
    if not (gpu["mig_current"] and gpu["grid"]):
        return _whole_gpu_diagram(gpu)
    height = SLOT_ROW + GI_HEIGHT + 4
    head = _svg_head(gpu, height)
    parts = [head]
    slot_width = DIAGRAM_WIDTH / float(gpu["grid"])
    for slot in range(gpu["grid"]):
        x = slot * slot_width
        parts.append('<rect class="slot" data-slot="%d" x="%s" y="0" width="%s" height="%d"/>' % (slot, _number(x), _number(slot_width), height))
        parts.append('<text class="slot-number" x="%s" y="13">%d</text>' % (_number(x + slot_width / 2.0), slot))
    for instance in gpu["instances"]:
        parts.append(_gpu_instance_svg(instance, slot_width))
    parts.append("</svg>")
    return "".join(parts)


# -- HTML -------------------------------------------------------------------------------


def _free_capacity(gpu):
    if gpu["free_slots"] is None:
        return ""
    items = "".join(
        '<li%s data-profile="%s" data-remaining="%d">%s &#215; %d</li>' % ("" if remaining else ' class="none"', _attr(name), remaining, _text(name), remaining)
        for name, remaining in gpu["remaining"]
    )
    return '<p class="free-slots" data-free-slots="%d">%d of %d memory slots free; can still create:</p><ul class="free">%s</ul>' % (
        gpu["free_slots"],
        gpu["free_slots"],
        gpu["grid"],
        items,
    )


def _gpu_html(gpu, partition_id):
    heading = "GPU %s &#183; %s &#183; %s &#183; %s" % (
        _text(gpu["index"]),
        _text(gpu["name"]),
        _text(gpu["pci_bus_id"]),
        _text(_mig_state(gpu)),
    )
    if partition_id is not None:
        heading += " &#183; in active fabric partition %s" % _text(partition_id)
    return '<div class="gpu" data-gpu-index="%s"><h3 title="%s">%s</h3>%s%s</div>' % (
        _attr(gpu["index"]),
        _attr(gpu["uuid"]),
        heading,
        _diagram(gpu),
        _free_capacity(gpu),
    )


def _partition_gpus(partition):
    names = []
    for gpu in partition.get("gpus") or ():
        names.append("GPU %s" % gpu["index"] if gpu.get("index") is not None else "physical id %s" % gpu.get("physical_id"))
    return ", ".join(names)


def _fabric_html(fabric):
    partitions = fabric.get("partitions") or []
    if not partitions:
        return ""
    rows = "".join(
        '<tr data-partition-id="%s" data-active="%s"><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td></tr>'
        % (
            _attr(partition["id"]),
            "true" if partition.get("active") else "false",
            _text(partition["id"]),
            "active" if partition.get("active") else "inactive",
            "active" if partition.get("active") else "inactive",
            _text(_partition_gpus(partition)),
            _text(partition.get("nvlinks", "")),
        )
        for partition in partitions
    )
    active = [partition for partition in partitions if partition.get("active")]
    summary = "Fabric partitions: %d of %d active" % (len(active), len(partitions))
    if active:
        summary += " (%s)" % "; ".join("%s: %s" % (partition["id"], _partition_gpus(partition)) for partition in active)
    return (
        '<details class="fabric"><summary>%s</summary><table class="fabric">'
        "<tr><th>partition</th><th>state</th><th>GPUs</th><th>NVLinks</th></tr>%s</table></details>" % (_text(summary), rows)
    )


def _host_html(position, host):
    head = '<section class="host" id="host-%d" data-host="%s"><h2>%s</h2>' % (position, _attr(host["name"]), _text(host["name"]))
    if host["failed"]:
        return head + '<p class="failed">%s</p></section>' % _text(host["failed"])
    meta = "backend %s &#183; driver %s &#183; %s" % (_text(host["backend"]), _text(host["driver"]), _text(_fabric_line(host["fabric"])))
    gpus = "".join(_gpu_html(gpu, host["active_partition"].get(gpu["index"])) for gpu in host["gpus"])
    return head + '<p class="meta">%s</p>%s%s</section>' % (meta, _fabric_html(host["fabric"]), gpus)


def _html(hosts, title):
    nav = "".join('<a href="#host-%d">%s</a>' % (position, _text(host["name"])) for position, host in enumerate(hosts))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>%s</title><style>%s</style></head><body><h1>%s</h1>"
        '<p class="summary">%s</p><nav>%s</nav>%s</body></html>\n'
        % (
            _text(title),
            STYLE,
            _text(title),
            _text(_summary_line(_totals(hosts))),
            nav,
            "".join(_host_html(position, host) for position, host in enumerate(hosts)),
        )
    )


# -- plain text -------------------------------------------------------------------------


def _layout_text(gpu):
    if not gpu["mig_current"]:
        return "-"
    counts = {}
    for instance in gpu["instances"]:
        counts[instance["profile"]] = counts.get(instance["profile"], 0) + 1
    return ", ".join("%s x%d" % (name, counts[name]) for name in sorted(counts)) or "no GPU instances"


def _text_summary(hosts, title):
    lines = ["%s: %s" % (title, _summary_line(_totals(hosts)))]
    for host in hosts:
        if host["failed"]:
            lines.append("%s: FAILED %s" % (host["name"], host["failed"]))
            continue
        lines.append("%s (%s, driver %s, %s)" % (host["name"], host["backend"], host["driver"], _fabric_line(host["fabric"], brief=True)))
        for gpu in host["gpus"]:
            free = "free %d/%d slots" % (gpu["free_slots"], gpu["grid"]) if gpu["free_slots"] is not None else ""
            lines.append(("  GPU %-2s %-13s %-40s %s" % (gpu["index"], _mig_state(gpu, brief=True), _layout_text(gpu), free)).rstrip())
    return "\n".join(lines)


FORMATS = {"html": _html, "text": _text_summary}


def mig_report(fleet, format="html", title=DEFAULT_TITLE):
    if format not in FORMATS:
        raise AnsibleFilterError("mig_report: format=%r is not supported (valid: %s)" % (format, ", ".join(sorted(FORMATS))))
    return FORMATS[format](fleet_view(fleet), to_text(title))


class FilterModule(object):
    def filters(self):
        return {"mig_report": mig_report}

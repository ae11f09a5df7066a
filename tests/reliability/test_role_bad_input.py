"""Bad variables of the gpuops.mig.mig role: each application of the role fails before
anything changes, with a message naming the variable and what is valid.

All cases run in one ansible-playbook (a role needs the real thing): the test writes a
playbook with one block per case that includes the role with the case's variables and
keeps the failure message; the simulated host's state file is checksummed around them.
"""

import json
import os

import pytest

from reliability_support import journal_path, make_host

MIG_PARTED = {"version": "v1", "mig-configs": {"small": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 2}}]}}

#: (case name, role variables, strings the message must contain)
CASES = [
    ("mode-unknown", {"mig_mode": "on"}, ["mig_mode", "enabled", "disabled"]),
    ("state-unknown", {"mig_state": "gone"}, ["mig_state", "present", "absent"]),
    ("disruption-unknown", {"mig_disruption": "chaos"}, ["mig_disruption", "minimal", "recreate"]),
    ("sharing-unknown", {"mig_sharing_strategy": "shared"}, ["mig_sharing_strategy", "time-slicing", "mps"]),
    ("placement-strategy-unknown", {"mig_placement_strategy": "random"}, ["mig_placement_strategy", "best-fit", "balanced"]),
    ("force-wrong-type", {"mig_force": "perhaps"}, ["mig_force", "bool"]),
    ("name-strategy-unknown", {"mig_cdi_device_name_strategies": ["serial"]}, ["mig_cdi_device_name_strategies", "index", "uuid"]),
    ("two-desired-states", {"mig_layout": ["3g.40gb"], "mig_requirements": [{"memory_gb": 10}]},
     ["mig_layout", "mig_requirements", "at most one"]),
    ("layout-preset-unknown", {"mig_layout_preset": "gigantic"}, ["mig_layout_preset='gigantic'", "unknown layout preset", "all-balanced"]),
    ("mig-parted-name-unknown", {"mig_parted_config": MIG_PARTED, "mig_parted_config_name": "large"},
     ["mig_parted_config_name", "small"]),
    ("profile-of-another-board", {"mig_layout": ["1g.5gb"]}, ["layout[0]", "1g.10gb", "7g.80gb"]),
    ("placement-off-the-grid", {"mig_layout": [{"profile": "3g.40gb", "placement": 2}]}, ["placement", "0:4", "4:4"]),
    ("gpu-missing", {"mig_gpus": ["12"]}, ["gpus", "00000000:18:00.0"]),
    ("feature-gate-unknown", {"mig_feature_gates": {"AutoEnableMIG": True}}, ["feature_gates", "AutoEnableMig"]),
    ("instances-with-mig-disabled", {"mig_mode": "disabled", "mig_layout": ["3g.40gb"]}, ["mig_layout", "mig_mode=disabled"]),
]


#: The failure message of a failed task, and those of its failed loop items.
FAILURE_TEXT = (
    "(ansible_failed_result.msg | default('') | string) ~ ' ' ~ "
    "(ansible_failed_result.results | default([]) | map(attribute='msg', default='') | join(' '))"
)


def _playbook(host_path, result_file):
    tasks = [{"name": "Checksum the host before", "ansible.builtin.stat": {"path": host_path, "checksum_algorithm": "sha256"},
              "register": "state_before"}]
    for name, variables, _expect in CASES:
        keep = "{{ role_messages | default({}) | combine({%s: %s}) }}"
        tasks.append({
            "name": "Case %s" % name,
            "block": [
                {"name": "Apply the role", "ansible.builtin.include_role": {"name": "gpuops.mig.mig"}, "vars": variables},
                {"name": "Note a success", "ansible.builtin.set_fact": {"role_messages": keep % (json.dumps(name), "'SUCCEEDED'")}},
            ],
            "rescue": [
                {"name": "Keep the message", "ansible.builtin.set_fact": {
                    "role_messages": keep % (json.dumps(name), FAILURE_TEXT)}},
            ],
        })
    tasks += [
        {"name": "Checksum the host after", "ansible.builtin.stat": {"path": host_path, "checksum_algorithm": "sha256"},
         "register": "state_after"},
        {"name": "Save what happened", "ansible.builtin.copy": {
            "dest": result_file, "mode": "0600",
            "content": "{{ {'messages': role_messages, 'before': state_before.stat.checksum, "
                       "'after': state_after.stat.checksum} | to_json }}"}},
    ]
    return [{
        "name": "Bad variables of the mig role",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/gpuops.mig.mig": {"simulator": host_path}},
        "tasks": tasks,
    }]


@pytest.mark.slow
def test_bad_role_variables_fail_before_anything_changes(tmp_path, host_dir, playbook_runner):
    host_path = make_host(host_dir, "dgx-h100")
    playbook, result_file = tmp_path / "role_bad_input.yml", tmp_path / "result.json"
    playbook.write_text(json.dumps(_playbook(host_path, str(result_file)), indent=1))
    completed = playbook_runner(playbook)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    outcome = json.loads(result_file.read_text())
    assert outcome["before"] == outcome["after"], "a failed role application changed the simulated host"
    problems = []
    for name, _variables, expect in CASES:
        message = outcome["messages"].get(name, "MISSING")
        missing = [part for part in expect if part not in message]
        if missing:
            problems.append("%s: %r not in %r" % (name, missing, message))
    assert not problems, "\n".join(problems)
    assert not os.path.exists(journal_path(host_path))

"""Write the gpuops.mig AWX objects as an `awx import` document (JSON on stdout).

awx/job_templates.json describes the project, execution environment, inventory and the four
job templates (site, teardown, report, plan); awx/surveys/<name>.json are their survey specs,
exactly what POST /api/v2/job_templates/<id>/survey_spec/ takes. This script adds what only
the installation knows (organization, Git URL, EE image) and links everything by the natural
keys `awx import` resolves. docs/awx.md has the steps:

    python3 awx/awx_import.py --scm-url https://git.example.com/gpuops/mig.git \\
        --ee-image registry.example.com/gpuops-mig-ee:1.0.0 > gpuops-mig-awx.json
    awx import < gpuops-mig-awx.json

Standard library only, so it runs wherever the awx CLI does.
"""

import argparse
import json
import os
import sys

AWX_DIR = os.path.dirname(os.path.abspath(__file__))

#: Job template fields taken from job_templates.json as they are (AWX API names).
JOB_TEMPLATE_FIELDS = (
    "name",
    "description",
    "playbook",
    "extra_vars",
    "diff_mode",
    "ask_inventory_on_launch",
    "ask_limit_on_launch",
    "ask_job_type_on_launch",
    "ask_diff_mode_on_launch",
    "ask_variables_on_launch",
)


def load(name):
    with open(os.path.join(AWX_DIR, name)) as stream:
        return json.load(stream)


def import_document(definitions, organization, scm_url, ee_image, scm_branch=None, with_inventory=True):
    """The `awx import` document for ``definitions`` (the content of job_templates.json)."""
    org = {"name": organization, "type": "organization"}
    ee_def, project_def, inventory_def = definitions["execution_environment"], definitions["project"], definitions["inventory"]
    ee_key = {"name": ee_def["name"], "type": "execution_environment"}
    project_key = {"organization": org, "name": project_def["name"], "type": "project"}
    inventory_key = {"organization": org, "name": inventory_def["name"], "type": "inventory"}

    execution_environment = dict(ee_def, image=ee_image, natural_key=ee_key)
    project = dict(project_def, scm_url=scm_url, organization=org, default_environment=ee_key, natural_key=project_key)
    if scm_branch:
        project["scm_branch"] = scm_branch
    document = {"execution_environments": [execution_environment], "projects": [project], "job_templates": []}
    if with_inventory:
        document["inventory"] = [
            {"name": inventory_def["name"], "description": inventory_def["description"], "organization": org, "natural_key": inventory_key}
        ]
        document["inventory_sources"] = [
            {
                "name": "%s (project)" % inventory_def["name"],
                "source": "scm",
                "source_project": project_key,
                "source_path": inventory_def["source_path"],
                "inventory": inventory_key,
                "overwrite": True,
                "update_on_launch": True,
                "natural_key": {"name": "%s (project)" % inventory_def["name"], "inventory": inventory_key, "type": "inventory_source"},
            }
        ]
    for template in definitions["job_templates"]:
        job_template = dict((field, template[field]) for field in JOB_TEMPLATE_FIELDS if field in template)
        job_template.update(
            job_type="run",
            project=project_key,
            execution_environment=ee_key,
            survey_enabled=True,
            natural_key={"organization": org, "name": template["name"], "type": "job_template"},
            related={"survey_spec": load(template["survey"])},
        )
        if with_inventory:
            job_template["inventory"] = inventory_key
        document["job_templates"].append(job_template)
    return document


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write the gpuops.mig AWX objects as an `awx import` document.")
    parser.add_argument("--scm-url", required=True, help="Git URL of this repository, as AWX reaches it")
    parser.add_argument("--ee-image", required=True, help="image built from meta/execution-environment.yml")
    parser.add_argument("--organization", default="Default", help="AWX organization (default: Default)")
    parser.add_argument("--scm-branch", help="branch, tag or commit (default: main)")
    parser.add_argument(
        "--no-inventory",
        action="store_true",
        help="leave out the simulated fleet inventory; job templates then ask for an inventory at launch",
    )
    arguments = parser.parse_args(argv)
    document = import_document(
        load("job_templates.json"),
        arguments.organization,
        arguments.scm_url,
        arguments.ee_image,
        scm_branch=arguments.scm_branch,
        with_inventory=not arguments.no_inventory,
    )
    json.dump(document, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

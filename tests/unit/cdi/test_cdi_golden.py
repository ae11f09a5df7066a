"""Golden specs for a DGX H100 with a mixed MIG layout and with full GPUs, one file per
naming strategy. The files were generated once with GPUOPS_CDI_REGEN_GOLDEN=1 and reviewed
line by line against the reference's rules (docs/cdi.md, "How the golden files were
checked"); a difference here means the generated spec changed for users."""

import json
import os

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi
from cdi_hosts import GOLDEN, dgx_h100_full, dgx_h100_mixed, driver_mig_minors

CASES = [
    # (golden file, host, strategies, dev_root)
    ("dgx-h100-mixed-index.yaml", dgx_h100_mixed, ["index"], "/"),
    ("dgx-h100-mixed-uuid.yaml", dgx_h100_mixed, ["uuid"], "/"),
    ("dgx-h100-mixed-type-index.yaml", dgx_h100_mixed, ["type-index"], "/"),
    ("dgx-h100-mixed-default.json", dgx_h100_mixed, ["index", "uuid"], "/"),
    ("dgx-h100-full-index.yaml", dgx_h100_full, ["index"], "/"),
    ("dgx-h100-full-uuid.json", dgx_h100_full, ["uuid"], "/"),
    ("dgx-h100-full-type-index.yaml", dgx_h100_full, ["type-index"], "/"),
    ("dgx-h100-full-default-driver-root.yaml", dgx_h100_full, ["index", "uuid"], "/run/nvidia/driver"),
]


def _generate(host, strategies, dev_root):
    gpus, migs = host()
    return _cdi.build_spec(
        gpus, migs, strategies=strategies, dev_root=dev_root, mig_minors=_cdi.parse_mig_minors(driver_mig_minors())
    )


@pytest.mark.parametrize("name, host, strategies, dev_root", CASES, ids=[case[0] for case in CASES])
def test_generated_spec_matches_golden_file(schema_validator, name, host, strategies, dev_root):
    spec = _generate(host, strategies, dev_root)
    content = _cdi.render(spec, _cdi.spec_format(name))
    golden = GOLDEN / name
    if os.environ.get("GPUOPS_CDI_REGEN_GOLDEN"):
        golden.write_text(content)
    assert content == golden.read_text()
    parsed = json.loads(content) if name.endswith(".json") else yaml.safe_load(content)
    assert parsed == spec
    assert _cdi.spec_problems(parsed) == []
    if schema_validator is not None:
        assert [error.message for error in schema_validator.iter_errors(parsed)] == []


def test_golden_files_are_exactly_the_cases():
    assert sorted(path.name for path in GOLDEN.iterdir()) == sorted(case[0] for case in CASES)

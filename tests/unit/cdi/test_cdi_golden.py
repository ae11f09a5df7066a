"""Golden specs for a DGX H100 with a mixed MIG layout and with full GPUs, one file per
naming strategy, with the driver files of the captured H200 (driver 580.159.04 under
/usr/local/nvidia), without and with the toolkit's hooks, and a management spec. The files were generated once with GPUOPS_CDI_REGEN_GOLDEN=1 and reviewed
line by line against the reference's rules (docs/cdi.md, "How the golden files were
checked"); a difference here means the generated spec changed for users."""

import json
import os

import pytest
import yaml

from ansible_collections.gpuops.mig.plugins.module_utils import _cdi, _cdi_driver
from cdi_hosts import GOLDEN, capture_driver, dgx_h100_full, dgx_h100_mixed, driver_mig_minors

HOOK = "/usr/bin/nvidia-cdi-hook"
CASES = [
    # (golden file, host, strategies, dev_root, hook binary, discovery mode)
    ("dgx-h100-mixed-index.yaml", dgx_h100_mixed, ["index"], "/", None, "nvml"),
    ("dgx-h100-mixed-uuid.yaml", dgx_h100_mixed, ["uuid"], "/", None, "nvml"),
    ("dgx-h100-mixed-type-index.yaml", dgx_h100_mixed, ["type-index"], "/", HOOK, "nvml"),
    ("dgx-h100-mixed-default.json", dgx_h100_mixed, ["index", "uuid"], "/", HOOK, "nvml"),
    ("dgx-h100-full-index.yaml", dgx_h100_full, ["index"], "/", None, "nvml"),
    ("dgx-h100-full-uuid.json", dgx_h100_full, ["uuid"], "/", None, "nvml"),
    ("dgx-h100-full-type-index.yaml", dgx_h100_full, ["type-index"], "/", "/usr/bin/nvidia-ctk", "nvml"),
    ("dgx-h100-full-default-driver-root.yaml", dgx_h100_full, ["index", "uuid"], "/run/nvidia/driver", HOOK, "nvml"),
    ("dgx-h100-mixed-management.yaml", dgx_h100_mixed, ["index"], "/", None, "management"),
]


@pytest.fixture(autouse=True)
def x86_64_host(monkeypatch):
    """Container library paths follow the host's multiarch triplet: the files show x86_64."""
    monkeypatch.setattr(_cdi_driver, "triplet", lambda: "x86_64-linux-gnu")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return capture_driver(tmp_path_factory.mktemp("capture"))


def _generate(host, strategies, dev_root, driver, hook_path, discovery_mode):
    gpus, migs = host()
    management = discovery_mode == "management"
    return _cdi.build_spec(
        gpus,
        migs,
        kind=_cdi.MANAGEMENT_KIND if management else _cdi.DEFAULT_KIND,
        strategies=strategies,
        dev_root=dev_root,
        mig_minors=_cdi.parse_mig_minors(driver_mig_minors()),
        driver=driver,
        hook_path=hook_path,
        discovery_mode=discovery_mode,
        capability_nodes=["/dev/nvidia-caps/nvidia-cap1", "/dev/nvidia-caps/nvidia-cap2"] if management else (),
    )


@pytest.mark.parametrize("name, host, strategies, dev_root, hook_path, mode", CASES, ids=[case[0] for case in CASES])
def test_generated_spec_matches_golden_file(schema_validator, driver, name, host, strategies, dev_root, hook_path, mode):
    spec = _generate(host, strategies, dev_root, driver, hook_path, mode)
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

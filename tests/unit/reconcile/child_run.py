"""A mig_instance engine run in its own process (for tests that kill it part way):
child_run.py STATE_FILE LAYOUT_JSON GPUS_JSON."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "build", "dev"))

from ansible_collections.gpuops.mig.plugins.module_utils import _reconcile  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._desired import desired_state  # noqa: E402
from ansible_collections.gpuops.mig.plugins.module_utils._nvml import Hardware  # noqa: E402

if __name__ == "__main__":
    state_file, layout, gpus = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
    with Hardware(simulator=state_file) as hardware:
        desired = desired_state({"state": "present", "layout": layout}, hardware, hardware.select(gpus))
        _reconcile.InstanceChange(hardware, desired).run()

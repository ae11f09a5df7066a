"""Run one module of the collection in this process, as its own OS process, for tests that
kill it part way: ``module_child.py MODULE ARGS_JSON`` (``_ansible_diff: true`` in the
arguments asks for diff mode, ``_ansible_check_mode: true`` for check mode). Prints the
module's result.

With ``RELIABILITY_EXIT_BEFORE_RECORD={"gpu": G, "step": S}`` in the environment the
process dies (``os._exit``, as abruptly as SIGKILL: no cleanup runs) right after step S
of GPU G has been done on the hardware and before the journal records it: the one
moment a crash leaves the journal behind the hardware.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "build", "dev"))
sys.path.insert(0, HERE)

from ansible_collections.gpuops.mig.plugins.module_utils import _journal  # noqa: E402
from reliability_support import run_module  # noqa: E402

KILLED = 137


def die_before_record(gpu, step):
    record = _journal.Journal.record

    def record_or_die(journal, index, step_number, result):
        if (index, step_number) == (gpu, step):
            os._exit(KILLED)
        return record(journal, index, step_number, result)

    _journal.Journal.record = record_or_die


if __name__ == "__main__":
    exit_at = os.environ.get("RELIABILITY_EXIT_BEFORE_RECORD")
    if exit_at:
        die_before_record(**json.loads(exit_at))
    args = json.loads(sys.argv[2])
    diff = args.pop("_ansible_diff", False)
    check_mode = args.pop("_ansible_check_mode", False)
    print(json.dumps(run_module(sys.argv[1], args, check_mode=check_mode, diff=diff)))

"""Waiting for a reconfiguration run in another process to reach a point of its journal,
so tests can kill it part way (shared by the reconcile unit tests and the reliability
battery)."""

import json
import time


def wait_for_journal_steps(child, journal_file, steps, timeout=60, poll=0.005):
    """Return once the journal at ``journal_file`` records at least ``steps`` completed
    steps on every GPU, or ``child`` (a Popen) has ended, or ``timeout`` passed."""
    deadline = time.time() + timeout
    while time.time() < deadline and child.poll() is None:
        try:
            with open(journal_file) as handle:
                journal = json.load(handle)
        except (IOError, ValueError):
            journal = None
        if journal and all(len(gpu["done"]) >= steps for gpu in journal["gpus"].values()):
            return
        time.sleep(poll)

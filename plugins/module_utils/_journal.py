# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gpuops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The journal of a run that changes MIG state.

``Journal`` is written atomically (mode 0600, directory 0700) before the first change and
after every completed step, and removed when the run ends. A journal found by the next run
means the previous one was interrupted: ``_recovery`` completes or rolls back its plan. A
document that is not a journal of this format (or too large to be one) is refused, naming
the file, rather than acted on.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import socket
import threading
import time

from ._errors import MigError
from ._files import read_regular_file, write_atomically


JOURNAL_FORMAT = 1

#: A journal holds a few hundred steps at most; anything larger is not one of ours.
JOURNAL_LIMIT = 4 * 1024 * 1024


class JournalError(MigError):
    """The journal cannot be read or written: the message says what to do."""

    def __init__(self, path, problem):
        self.path = path
        super(JournalError, self).__init__("journal %s %s" % (path, problem))

    def details(self):
        return {"journal": self.path}


def _write_json_atomically(path, document, mode=0o600):
    try:
        write_atomically(path, json.dumps(document, indent=1, sort_keys=True), mode, directory_mode=0o700)
    except OSError as error:
        raise JournalError(path, "cannot be written: %s" % (error.strerror or error))


#: Per step op: the fields it must carry as integers (journal validation).
_STEP_FIELDS = {
    "destroy_ci": ("gi", "ci", "profile"),
    "destroy_gi": ("gi", "profile"),
    "create_gi": ("profile",),
    "create_ci": (),
    "set_mig_mode": (),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _journal_problem(document):
    """What is wrong with the shape of a journal document (None: nothing), so recovery
    never trips over a field it expects (a KeyError half way through settling it)."""
    if not isinstance(document, dict):
        return "is not a JSON object"
    if document.get("format") != JOURNAL_FORMAT:
        return "has an unknown format %r" % (document.get("format"),)
    gpus = document.get("gpus")
    if not isinstance(gpus, dict):
        return "has no 'gpus' object"
    for index, entry in gpus.items():
        where = "GPU %s" % index
        if not index.isdigit() or not isinstance(entry, dict):
            return "names GPU %r with an entry that is not an object" % index
        if not isinstance(entry.get("uuid"), str) or not isinstance(entry.get("before"), list):
            return "%s: 'uuid' (text) and 'before' (list) are required" % where
        for record in entry["before"]:
            if not isinstance(record, dict) or not _is_int(record.get("gi_id")) or not isinstance(record.get("compute_instances"), list):
                return "%s: 'before' holds a record that is not an instance record" % where
        steps, done = entry.get("steps"), entry.get("done")
        if not isinstance(steps, list) or not isinstance(done, dict):
            return "%s: 'steps' (list) and 'done' (object) are required" % where
        for number, step in enumerate(steps):
            op = step.get("op") if isinstance(step, dict) else None
            if op not in _STEP_FIELDS:
                return "%s step %d: unknown op %r (known: %s)" % (where, number, op, ", ".join(sorted(_STEP_FIELDS)))
            missing = [field for field in _STEP_FIELDS[op] if not _is_int(step.get(field))]
            if op in ("create_gi", "destroy_ci", "destroy_gi") and not (isinstance(step.get("placement"), list) and len(step["placement"]) == 2):
                missing.append("placement")
            if op == "create_ci" and not (_is_int(step.get("gi")) or _is_int(step.get("gi_step"))):
                missing.append("gi or gi_step")
            if missing:
                return "%s step %d (%s): missing or malformed %s" % (where, number, op, ", ".join(missing))
        for number, result in done.items():
            if not number.isdigit() or int(number) >= len(steps) or not isinstance(result, dict):
                return "%s: done step %r is not a step of its plan" % (where, number)
    return None


class Journal(object):
    """The record of one run's plan, kept on disk until the run ends cleanly.

    Document: ``{"format", "pid", "host", "module", "started", "gpus": {index: {"uuid",
    "desired", "before", "steps", "done": {step index: result}}}}``. ``desired`` is the
    run's desired state for that GPU in a comparable form (None: the steps roll back an
    interrupted run, so they are always completed, never undone), ``before`` its
    instances when the steps started (``instance_records``). An entry stays until its GPU
    is settled: in its desired state, or back where the first interrupted run found it.
    Thread safe: workers of several GPUs record their steps concurrently.
    """

    def __init__(self, path, document):
        self.path = path
        self.document = document
        self._mutex = threading.Lock()

    @classmethod
    def find(cls, path):
        """The journal an interrupted run left behind, or None. Only a regular file of
        bounded size is read (never through a symlink, never blocking on a FIFO)."""
        try:
            text = read_regular_file(path, JOURNAL_LIMIT, what="journal")
        except OSError as error:
            if error.errno == errno.ENOENT:
                return None
            raise JournalError(path, "cannot be read: %s" % (error.strerror or error))
        try:
            document = json.loads(text.decode("utf-8"))
        except ValueError:
            # A journal is always replaced atomically, so a torn file cannot be ours.
            raise JournalError(path, "is not valid JSON; inspect and remove it")
        problem = _journal_problem(document)
        if problem:
            raise JournalError(
                path, "%s; it was not written by this version of gpuops.mig (or was edited): inspect and remove it" % problem
            )
        return cls(path, document)

    @classmethod
    def begin(cls, path, module, gpus):
        """Write a new journal for ``gpus`` ({index: {"uuid", "desired", "before",
        "steps", optional "done"}}) before the first change and return it."""
        document = {
            "format": JOURNAL_FORMAT,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "module": module,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "gpus": dict(
                (str(index), dict(entry, done=dict((str(number), result) for number, result in entry.get("done", {}).items())))
                for index, entry in gpus.items()
            ),
        }
        journal = cls(path, document)
        _write_json_atomically(path, document)
        return journal

    def gpu(self, index):
        return self.document["gpus"].get(str(index))

    def gpus(self):
        return sorted(int(index) for index in self.document["gpus"])

    def record(self, index, step_number, result):
        """Mark step ``step_number`` of GPU ``index`` done with ``result`` (e.g. the id the
        driver assigned) and persist the journal."""
        with self._mutex:
            self.document["gpus"][str(index)]["done"][str(step_number)] = result
            _write_json_atomically(self.path, self.document)

    def forget(self, index, step_number):
        """Mark a done step undone again (after rolling it back) and persist."""
        with self._mutex:
            self.document["gpus"][str(index)]["done"].pop(str(step_number), None)
            _write_json_atomically(self.path, self.document)

    def write(self):
        """Persist the journal as it is (e.g. put an interrupted run's journal back)."""
        with self._mutex:
            _write_json_atomically(self.path, self.document)

    def remove(self):
        remove_journal(self.path)


def remove_journal(path):
    try:
        os.unlink(path)
    except OSError as error:
        if error.errno != errno.ENOENT:
            raise JournalError(path, "cannot be removed: %s" % (error.strerror or error))

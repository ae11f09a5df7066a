"""The host lock and the journal are files anyone with access to their directory could
swap (issue 16 case 6): they are never opened through a symlink, only regular files are
read (a FIFO must not hang a run that holds the host lock), sizes are bounded, and a
journal of the wrong shape is refused with a message naming the file and the problem.
Nothing changes, and no traceback, in every case."""

import json
import os

import pytest

from reliability_support import journal_path, lock_path, make_host, run_module, tree_snapshot

H100_RUN = {"gpus": ["1"], "layout": ["3g.40gb"]}
STEP = {"op": "create_gi", "profile": 9, "placement": [0, 4], "label": "3g.40gb"}
ENTRY = {"uuid": "GPU-x", "desired": None, "before": [], "steps": [STEP], "done": {}}

#: Journals of the wrong shape: (id, document, what the message names).
BAD_JOURNALS = [
    ("a-list", [], "not a JSON object"),
    ("no-format", {"gpus": {}}, "unknown format"),
    ("gpus-a-list", {"format": 1, "gpus": []}, "'gpus'"),
    ("gpu-not-a-number", {"format": 1, "gpus": {"x": ENTRY}}, "'x'"),
    ("no-uuid", {"format": 1, "gpus": {"1": dict(ENTRY, uuid=None)}}, "'uuid'"),
    ("before-not-records", {"format": 1, "gpus": {"1": dict(ENTRY, before=[1])}}, "'before'"),
    ("steps-missing", {"format": 1, "gpus": {"1": dict(ENTRY, steps=None)}}, "'steps'"),
    ("unknown-op", {"format": 1, "gpus": {"1": dict(ENTRY, steps=[{"op": "explode"}])}}, "unknown op 'explode'"),
    ("step-without-placement", {"format": 1, "gpus": {"1": dict(ENTRY, steps=[dict(STEP, placement=None)])}}, "placement"),
    ("step-id-not-a-number",
     {"format": 1, "gpus": {"1": dict(ENTRY, steps=[{"op": "destroy_gi", "gi": "7", "profile": 9, "placement": [0, 4]}])}}, "gi"),
    ("done-out-of-range", {"format": 1, "gpus": {"1": dict(ENTRY, done={"5": {"gi": 1}})}}, "'5'"),
]


@pytest.fixture
def h100(host_dir):
    return make_host(host_dir, "dgx-h100")


def _refused(host_dir, module, args, *fragments):
    before = tree_snapshot(host_dir)
    result = run_module(module, args)
    assert "traceback" not in result, result["traceback"]
    assert result.get("failed") is True and result["changed"] is False, result
    for fragment in fragments:
        assert fragment in result["msg"], result["msg"]
    assert tree_snapshot(host_dir) == before
    return result


@pytest.mark.parametrize("document,fragment", [case[1:] for case in BAD_JOURNALS], ids=[case[0] for case in BAD_JOURNALS])
def test_a_journal_of_the_wrong_shape_is_refused(host_dir, h100, document, fragment):
    with open(journal_path(h100), "w") as handle:
        json.dump(document, handle)
    _refused(host_dir, "mig_instance", dict(H100_RUN, simulator=h100), journal_path(h100), fragment, "inspect and remove it")


@pytest.mark.parametrize("module,args", [("mig_instance", H100_RUN), ("mig_mode", {"gpus": ["1"], "state": "enabled"})])
def test_a_fifo_in_place_of_the_journal_does_not_hang_the_run(host_dir, h100, module, args):
    os.mkfifo(journal_path(h100))
    _refused(host_dir, module, dict(args, simulator=h100), journal_path(h100), "FIFO")


def test_a_journal_symlink_is_not_followed(host_dir, h100, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"format": 1, "gpus": {}}))
    os.symlink(str(target), journal_path(h100))
    _refused(host_dir, "mig_instance", dict(H100_RUN, simulator=h100), "symbolic link")


def test_an_endless_journal_is_not_swallowed(host_dir, h100):
    os.symlink("/dev/zero", journal_path(h100))
    _refused(host_dir, "mig_instance", dict(H100_RUN, simulator=h100), "symbolic link")
    os.unlink(journal_path(h100))
    with open(journal_path(h100), "w") as handle:
        handle.write(" " * (5 * 1024 * 1024))
    _refused(host_dir, "mig_instance", dict(H100_RUN, simulator=h100), "larger than")


@pytest.mark.parametrize("module,args", [
    ("mig_instance", H100_RUN),
    ("gpu_info", {}),
])
@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink-to-dev-null"])
def test_a_lock_path_that_is_no_regular_file_is_refused(host_dir, h100, module, args, kind):
    path = lock_path(h100)
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink(os.devnull, path)
    fragment = {"directory": "directory", "fifo": "FIFO", "symlink-to-dev-null": "symbolic link"}[kind]
    _refused(host_dir, module, dict(args, simulator=h100), path, fragment)


def test_a_lock_symlink_does_not_truncate_its_target(host_dir, h100, tmp_path):
    target = tmp_path / "precious.conf"
    target.write_text("keep me\n")
    os.symlink(str(target), lock_path(h100))
    _refused(host_dir, "mig_instance", dict(H100_RUN, simulator=h100), "symbolic link")
    assert target.read_text() == "keep me\n"

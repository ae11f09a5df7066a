#!/usr/bin/env bash
# ansible-test sanity for gpuops.mig, runnable offline (only PyPI reachable).
#
# ansible-test needs the collection inside an ansible_collections/<namespace>/<name> tree, so
# this copies the checkout (tracked plus untracked-but-not-ignored files) to
# build/sanity/ansible_collections/gpuops/mig and runs every sanity test there with the
# repository venv's ansible-test and Python (VENV_BIN=/path/to/venv/bin picks another venv).
# Extra arguments go to ansible-test, e.g.
#   bash tests/sanity/run.sh --test pylint
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv_bin="${VENV_BIN:-$repo/.venv/bin}"
python="$venv_bin/python"
copy_root="$repo/build/sanity"
collection="$copy_root/ansible_collections/gpuops/mig"

if [[ ! -x "$venv_bin/ansible-test" ]]; then
    echo "sanity: $venv_bin/ansible-test not found; run 'make venv' first" >&2
    exit 2
fi
# ansible-test --python X.Y looks up pythonX.Y on PATH: make that the venv's interpreter.
export PATH="$venv_bin:$PATH"
python_version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

install_pip_bootstrap() {
    # ansible-test downloads get-pip.py into this cache from a host that may be unreachable;
    # put the offline shim there unless a real script is already cached.
    local pip_version cache_file
    pip_version="$("$python" - <<'EOF'
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version="%d.%d" % __import__("sys").version_info[:2]))["pip"])
EOF
)"
    cache_file="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
    if [[ -e "$cache_file" ]] && ! grep -q "^# gpuops.mig offline get-pip shim" "$cache_file"; then
        echo "sanity: using cached pip bootstrap script $cache_file"
        return
    fi
    if [[ -e "$cache_file" ]] && cmp -s "$repo/tests/sanity/get_pip_shim.py" "$cache_file"; then
        return
    fi
    mkdir -p "$(dirname "$cache_file")"
    local staged
    staged="$(mktemp "$cache_file.XXXXXX")"
    cp "$repo/tests/sanity/get_pip_shim.py" "$staged"
    chmod 0644 "$staged"
    mv -f "$staged" "$cache_file"
    echo "sanity: installed offline pip bootstrap shim at $cache_file"
}

copy_collection() {
    rm -rf "$copy_root"
    mkdir -p "$collection"
    if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked files deleted in the working tree are still listed: copy only what exists.
        git -C "$repo" ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' path; do
                if [[ -e "$repo/$path" || -L "$repo/$path" ]]; then printf '%s\0' "$path"; fi
            done \
            | tar -C "$repo" --null --files-from=- -cf - \
            | tar -C "$collection" -xf -
    else
        tar -C "$repo" \
            --exclude=./.git --exclude=./.venv --exclude=./build --exclude=./tests/output \
            --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache --exclude=.cache \
            --exclude='*.tar.gz' -cf - . \
            | tar -C "$collection" -xf -
    fi
    echo "sanity: $(find "$collection" -type f | wc -l) files copied to $collection"
    # ansible-test lists sources with git from the nearest .git upwards; without one of its
    # own the copy would resolve to this checkout's repository, which ignores build/.
    if command -v git >/dev/null; then
        git init --quiet "$collection"
    fi
}

# One run at a time per checkout: a second run would delete the copy the first is testing.
mkdir -p "$repo/build"
exec 9>"$repo/build/.sanity.lock"
if command -v flock >/dev/null && ! flock --nonblock 9; then
    echo "sanity: another run holds $repo/build/.sanity.lock, waiting for it"
    flock 9
fi

install_pip_bootstrap
copy_collection

# pip's download chatter from ansible-test's venv setup stays in the log, off the console.
pip_progress='^ *(Looking in (indexes|links)|WARNING: Location .* is ignored|Collecting |Downloading |Processing |Installing collected packages|Successfully (installed|uninstalled)|Attempting uninstall|Found existing installation|Uninstalling |Requirement already satisfied|Using cached |━)'
log="$copy_root/sanity.log"

cd "$collection"
started=$SECONDS
set +e
"$venv_bin/ansible-test" sanity --local --requirements --python "$python_version" --color no "$@" 2>&1 \
    | tee "$log" | grep --line-buffered -v -E "$pip_progress"
status=${PIPESTATUS[0]}
set -e
elapsed=$((SECONDS - started))

ran="$(grep -c '^Running sanity test ' "$log" || true)"
failed_tests="$(sed -n '/^FATAL: The [0-9]* sanity test(s) listed below/,$p' "$log" | tail -n +2)"
failed="$(grep -c . <<<"$failed_tests" || true)"
# ansible-test skips a test whose program is missing (shellcheck, pwsh) with a warning.
skipped="$(grep -c '^WARNING: Required program ".*" not found' "$log" || true)"

echo
echo "==================== ansible-test sanity summary ===================="
echo "ansible-test $("$venv_bin/ansible-test" --version | cut -d' ' -f3), Python $python_version, ${elapsed}s, log: $log"
grep -E '^(ERROR|WARNING): ' "$log" | grep -v -E "$pip_progress|^ERROR: Found [0-9]+ |^WARNING: Reviewing previous" | sort -u || true
if [[ $failed -gt 0 ]]; then
    echo "failed tests: $(paste -sd ' ' <<<"$failed_tests")"
fi
if [[ $status -ne 0 && $failed -eq 0 ]]; then
    echo "sanity: ansible-test itself failed (exit $status), see the log"
else
    echo "sanity: $((ran - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"

#!/usr/bin/env bash
# Every test, as `make test` runs them, with the seconds each stage took.
#
# The pytest run is CPU-bound (two workers on a 2-core machine) while preparing the
# containers (apt-get for podman, runc and mmdebstrap; the managed-host image from Debian
# packages; the nvidia-ml-py wheels) mostly waits on the network, so the preparation runs
# beside it and everything that needs containers comes after it. Run from the repository
# root by `make test` (which installs the collection first); MAKE names the make to call.
set -uo pipefail

make_cmd=("${MAKE:-make}" --no-print-directory)
bin=.venv/bin
mkdir -p build
prepare_log=build/test-prepare.log
timings=()
failed=""

stage() {
    local name=$1 started=$SECONDS status
    shift
    echo "=== $name"
    "$@"
    status=$?
    timings+=("$(printf '%-40s %4d s  %s' "$name" $((SECONDS - started)) "$([[ $status -eq 0 ]] && echo ok || echo "FAILED ($status)")")")
    [[ $status -eq 0 ]] || failed="$failed $name"
    return $status
}

summary() {
    echo
    echo "==================== make test: seconds per stage ===================="
    printf '%s\n' "${timings[@]}"
    echo "total $SECONDS s${failed:+, failed:$failed}"
}
trap summary EXIT

prepare_started=$SECONDS
"${make_cmd[@]}" container-deps host-image >"$prepare_log" 2>&1 &
prepare=$!

stage "pytest: unit, integration, reliability" \
    "$bin/pytest" -q -rs -n 2 --dist loadfile tests/unit tests/integration tests/reliability
pytest_status=$?

wait "$prepare"
prepare_status=$?
timings+=("$(printf '%-40s %4d s  %s' "containers prepared (beside it)" $((SECONDS - prepare_started)) \
    "$([[ $prepare_status -eq 0 ]] && echo ok || echo "FAILED ($prepare_status)")")")
if [[ $prepare_status -ne 0 ]]; then
    failed="$failed prepare"
    echo "=== preparing the containers failed, its log ($prepare_log):"
    tail -n 60 "$prepare_log"
    exit 1
fi
[[ $pytest_status -eq 0 ]] || exit 1

stage "pytest: a container gets its device" "$bin/pytest" -q -rs tests/container || exit 1
stage "molecule: localhost scenarios" "${make_cmd[@]}" molecule || exit 1
stage "real managed hosts over SSH" "${make_cmd[@]}" real-hosts || exit 1
stage "ansible-lint" "${make_cmd[@]}" lint || exit 1
stage "ansible-test sanity" "${make_cmd[@]}" sanity || exit 1

#!/usr/bin/env bash
# Every test, as `make test` runs them, with the seconds each stage took.
#
# Stages run two at a time where one mostly waits: the CPU-bound pytest run (two workers on
# a 2-core machine) beside the container preparation (apt-get for podman, runc and
# mmdebstrap; the managed-host image from Debian packages; the nvidia-ml-py wheels), the
# localhost molecule scenarios beside the real managed hosts (containers booting, SSH), and
# ansible-test sanity beside ansible-lint. Each stage of a pair writes its own log,
# printed when the pair is done. Run from the repository root by `make test`, which
# installs the collection once (`-o install` keeps the stages from installing it again,
# side by side); MAKE names the make to call.
set -uo pipefail

make_cmd=("${MAKE:-make}" --no-print-directory -o install)
mkdir -p build
timings=()
failed=""

summary() {
    echo
    echo "==================== make test: seconds per stage ===================="
    printf '%s\n' "${timings[@]}"
    echo "total $SECONDS s${failed:+, failed:$failed}"
}
trap summary EXIT

record() {  # name seconds status
    timings+=("$(printf '%-40s %4d s  %s' "$1" "$2" "$([[ $3 -eq 0 ]] && echo ok || echo "FAILED ($3)")")")
    [[ $3 -eq 0 ]] || failed="$failed $1"
}

stage() {  # name command: alone
    local started=$SECONDS code
    echo "=== $1"
    bash -c "$2"
    code=$?
    record "$1" $((SECONDS - started)) $code
    return $code
}

# side_by_side "name A" "command A" "name B" "command B": both at once, each into
# build/test-stage-<0|1>.log, printed when both are done (A's first). Fails when either does.
side_by_side() {
    local names=("$1" "$3") commands=("$2" "$4") pids=() status=0 index code
    for index in 0 1; do
        echo "=== ${names[index]} (beside the other; log build/test-stage-$index.log)"
        bash -c 'started=$SECONDS; bash -c "$1"; code=$?; echo $((SECONDS - started)) >"$2"; exit $code' \
            stage "${commands[index]}" "build/test-stage-$index.seconds" >"build/test-stage-$index.log" 2>&1 &
        pids[index]=$!
    done
    for index in 0 1; do
        wait "${pids[index]}"
        code=$?
        echo "=== ${names[index]}: its output"
        cat "build/test-stage-$index.log"
        record "${names[index]}" "$(cat "build/test-stage-$index.seconds")" $code
        [[ $code -eq 0 ]] || status=1
    done
    return $status
}

side_by_side \
    "pytest: unit, integration, reliability" "${make_cmd[*]} test-fast" \
    "containers prepared (beside it)" "${make_cmd[*]} container-deps host-image" || exit 1
stage "pytest: a container gets its device" "${make_cmd[*]} container" || exit 1
side_by_side \
    "molecule: localhost scenarios" "${make_cmd[*]} molecule" \
    "real managed hosts over SSH (beside it)" "${make_cmd[*]} real-hosts" || exit 1
side_by_side \
    "ansible-test sanity" "${make_cmd[*]} sanity" \
    "ansible-lint (beside it)" "${make_cmd[*]} lint" || exit 1

#!/usr/bin/env bash
# The managed-host image's name: its tag is a hash of the recipe (build-image.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
echo "localhost/gpuops-mig-host:$(sha256sum "$here/build-image.sh" | cut -c1-12)"

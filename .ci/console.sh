#!/usr/bin/env bash
# The web console: rebuild it from the contracts and fail if the committed assets differ (or
# exceed their size budget), then drive it in Debian's Chromium against the real binary.
# Usage: .ci/console.sh path/to/taskmesh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/taskmesh}")"

if ! command -v chromium >/dev/null; then
    # Playwright's own browser download is not reachable here: use Debian's Chromium.
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null 2>&1 || {
        apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null
    }
fi

cd crates/console/web
npm ci --no-audit --no-fund --silent
node build.mjs --check
TASKMESH_TEST_BIN="$bin" CHROMIUM="$(command -v chromium)" node --test --test-reporter=spec e2e/

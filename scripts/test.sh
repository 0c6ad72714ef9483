#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the whole test suite with pytest.
# Extra arguments go to pytest, e.g. ./scripts/test.sh -x -k quickstart
# Exits non-zero when a test fails, and also when pytest collected no test
# (pytest's exit code 5), so an empty run never passes as a green one.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
./scripts/setup.sh
. scripts/_python.sh
rc=0
"$PYTHON" -m pytest "$@" </dev/null || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no tests (exit 5): treated as a failure" >&2
fi
exit "$rc"

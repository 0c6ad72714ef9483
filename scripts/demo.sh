#!/usr/bin/env bash
# Set up (scripts/setup.sh), then show tracedoc on the sample trace.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
./scripts/setup.sh
. scripts/_python.sh
set -x
tracedoc info examples/sample.pcap
tracedoc summary examples/sample.pcap
tracedoc diagnose examples/sample.pcap

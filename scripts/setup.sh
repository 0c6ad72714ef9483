#!/usr/bin/env bash
# Set up a Debian 12 machine for tracedoc: tshark, tcpdump and the live tests' servers
# and clients from Debian, then tracedoc itself (pip install -e '.[test]').
#
# Idempotent: when everything is already in place it only checks (well under
# a second). Run it as root, or as a user who may sudo for the apt steps.
# Environment: PYTHON (default python3). If that Python is Debian's own
# ("externally managed"), tracedoc goes into a virtualenv at .venv instead;
# scripts/demo.sh and scripts/test.sh find it there.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_PYTHON="${PYTHON:-python3}"

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi

installed() {  # is the Debian package $1 installed?
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = "installed" ]
}

# -- Debian packages -----------------------------------------------------------
want=(tshark tcpdump
      # tests/live: real servers and clients in network namespaces
      iproute2 ethtool dnsmasq-base bind9-dnsutils busybox openssl snmpd snmp
      # tests/lab: an FTP server from Debian (its users in a pam_userdb file
      # made with perl's DB_File), an HTTP client; faults injected into the
      # lab's traffic (dropped SYNs, blocked ports, ICMP filters)
      vsftpd libpam-modules perl curl nftables
      # the PDF report's Unicode font; pdftotext to read reports back in tests
      fonts-dejavu-core poppler-utils
      # tests/browser: the workbench in a real headless browser (driven by
      # playwright, which downloads no browser of its own)
      chromium)
if ! command -v "$BASE_PYTHON" >/dev/null 2>&1; then
    want+=(python3 python3-venv)
elif [ "$("$BASE_PYTHON" -c 'import sys; print(sys.prefix)' 2>/dev/null)" = "/usr" ]; then
    want+=(python3-venv)   # Debian's Python: tracedoc goes into a venv (see above)
fi
missing=()
for p in "${want[@]}"; do
    installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
        say "need root or sudo to install: ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    # Do not ask whether non-root users may capture (the answer is no).
    echo "wireshark-common wireshark-common/install-setuid boolean false" \
        | "${SUDO[@]}" debconf-set-selections
    apt_get=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
    # apt-get update only when the package lists do not know a package yet;
    # if installing from the lists we have fails (stale lists), update and retry.
    need_update=0
    for p in "${missing[@]}"; do
        cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
        if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; fi
    done
    if [ "$need_update" -eq 1 ]; then
        "${apt_get[@]}" update -qq
    fi
    if ! "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null; then
        say "install failed; refreshing the package lists and retrying"
        "${apt_get[@]}" update -qq
        "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null
    fi
fi

# -- Python ----------------------------------------------------------------------
# shellcheck source=scripts/_python.sh
. "$REPO/scripts/_python.sh"
if [ -n "$TRACEDOC_VENV" ] && [ ! -x "$TRACEDOC_VENV/bin/python" ]; then
    say "$BASE_PYTHON is externally managed; making a virtualenv at $TRACEDOC_VENV"
    "$BASE_PYTHON" -m venv "$TRACEDOC_VENV"
fi

# Skip pip when `import tracedoc` already finds this checkout, with the
# version and console scripts pyproject.toml declares, and every requirement
# there (dependencies + the test extra) is met.
python_ready() {
    "$PYTHON" - "$REPO" <<'PY' 2>/dev/null
import importlib.metadata as md
import importlib.util
import os
import pathlib
import sys
import sysconfig
import tomllib

repo = pathlib.Path(sys.argv[1]).resolve()
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement

project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
spec = importlib.util.find_spec("tracedoc")
if spec is None or pathlib.Path(spec.origin).resolve() != repo / "src" / "tracedoc" / "__init__.py":
    sys.exit(1)
dist = md.distribution("tracedoc")
if dist.version != project["version"]:
    sys.exit(1)
scripts = project.get("scripts", {})
if {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"} != scripts:
    sys.exit(1)
for name in scripts:
    if not os.path.exists(os.path.join(sysconfig.get_path("scripts"), name)):
        sys.exit(1)
wanted = list(project.get("dependencies", [])) + list(project.get("optional-dependencies", {}).get("test", []))
for text in wanted:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": "test"}):
        continue
    try:
        version = md.version(req.name)
    except md.PackageNotFoundError:
        sys.exit(1)
    if not req.specifier.contains(version, prereleases=True):
        sys.exit(1)
PY
}

if ! python_ready; then
    say "pip install -e '.[test]' into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    (cd "$REPO" && PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q \
        --disable-pip-version-check -e '.[test]')
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
    python_ready || { say "tracedoc is still not importable from $REPO after pip install"; exit 1; }
fi

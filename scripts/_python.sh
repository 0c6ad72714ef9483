# Sourced by setup.sh, demo.sh and test.sh (not run on its own).
# Chooses the Python that tracedoc is installed into and puts its scripts
# directory first on PATH:
#   - $PYTHON if set, else python3 (e.g. pyenv's);
#   - but a Python that is "externally managed" (Debian's /usr/bin/python3,
#     PEP 668) refuses pip installs, so then a virtualenv at .venv in the
#     repository (git-ignored; made by setup.sh) is used instead.
# REPO must be set by the caller.

PYTHON="${PYTHON:-python3}"

_tracedoc_externally_managed() {
    "$1" -c 'import os, sys, sysconfig
sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(
    os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)' 2>/dev/null
}

if command -v "$PYTHON" >/dev/null 2>&1 && _tracedoc_externally_managed "$PYTHON"; then
    TRACEDOC_VENV="$REPO/.venv"
    PYTHON="$TRACEDOC_VENV/bin/python"
    export PATH="$TRACEDOC_VENV/bin:$PATH"
else
    TRACEDOC_VENV=""
    if command -v "$PYTHON" >/dev/null 2>&1; then
        _scripts="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
        if [ -n "$_scripts" ] && [ -d "$_scripts" ]; then
            case ":$PATH:" in *":$_scripts:"*) ;; *) export PATH="$PATH:$_scripts" ;; esac
        fi
        unset _scripts
    fi
fi
export PYTHON

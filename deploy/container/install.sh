#!/bin/sh
# fnproxy into a virtual environment, as the image's build stage does it (Dockerfile; the test
# tests/deploy/test_container.py runs the same RUN lines outside an engine):
#
#   install.sh dependencies VENV   VENV made without pip, then every distribution of
#                                  requirements.txt (beside this script) installed into it:
#                                  wheels only, each checked against its sha256, nothing else
#                                  resolved (--no-deps)
#   install.sh project VENV        fnproxy itself from the checkout two folders up, built with
#                                  the build requirements already in VENV (no index), then the
#                                  build-only distributions removed and VENV checked complete
#
# `python3` (the image's interpreter) makes VENV and runs pip, which --python points at VENV.
set -eu

usage() {
    echo "usage: install.sh dependencies|project VENV" >&2
    exit 2
}
[ $# -eq 2 ] || usage
step=$1
venv=$2
here=$(cd "$(dirname "$0")" && pwd)
requirements="$here/requirements.txt"

pip() {
    python3 -m pip --disable-pip-version-check --no-input --python "$venv/bin/python" "$@"
}

case $step in
dependencies)
    python3 -m venv --without-pip "$venv"
    pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: \
        --requirement "$requirements"
    ;;
project)
    pip install --no-cache-dir --no-deps --no-build-isolation --no-index "$here/../.."
    build_only=$(sed -n 's/^# build-only://p' "$requirements")
    # Word splitting wanted: one name per word.
    # shellcheck disable=SC2086
    [ -z "$build_only" ] || pip uninstall --yes $build_only
    pip check
    ;;
*)
    usage
    ;;
esac

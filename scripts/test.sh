#!/usr/bin/env bash
# Run the template's whole test suite, installing what it needs.
#
#   bash scripts/test.sh [pytest arguments]
#
# Creates .venv (this Python, 3.11 or newer: Django 5.2 LTS and the test tools) and
# .venv-dj6 (Python 3.13: Django 6.1, for the render matrix on Django 6.x). Python 3.13 is
# $PYTHON313, python3.13 on PATH, or pyenv's; without it the Django 6.1 tests skip, unless
# CI=true, where the run fails. As root on Debian it also installs what is missing
# (python3-venv) and installs and starts Redis and PostgreSQL on localhost for the
# end-to-end tests (stopped on exit); elsewhere those tests skip with the reason, unless
# CI=true, where a skip fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    if [ "${SKIP_SERVICES:-0}" != 1 ]; then
        bash scripts/services.sh start
        trap 'bash scripts/services.sh stop' EXIT
    fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

python313=""
for candidate in "${PYTHON313:-}" python3.13 /root/.pyenv/versions/3.13*/bin/python; do
    if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null; then
        python313=$candidate
        break
    fi
done
if [ -n "$python313" ]; then
    "$python313" -m venv .venv-dj6
    .venv-dj6/bin/python -m pip install --quiet --upgrade pip
    .venv-dj6/bin/python -m pip install --quiet -e '.[django6]'
elif [ "${CI:-}" = true ]; then
    echo "scripts/test.sh: no Python 3.13 for the Django 6.1 render matrix; CI=true requires it" >&2
    exit 1
else
    echo "scripts/test.sh: no Python 3.13: the Django 6.1 render matrix skips" >&2
fi

.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"

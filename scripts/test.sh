#!/usr/bin/env bash
# Run the template's whole test suite, installing what it needs.
#
#   bash scripts/test.sh [pytest arguments]
#
# Creates .venv with the test dependencies. As root on Debian it also installs and
# starts Redis and PostgreSQL on localhost for the end-to-end tests (stopped on exit);
# elsewhere those tests skip with the reason, unless CI=true, where a skip fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ "${SKIP_SERVICES:-0}" != 1 ]; then
    bash scripts/services.sh start
    trap 'bash scripts/services.sh stop' EXIT
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-auto}" "$@"

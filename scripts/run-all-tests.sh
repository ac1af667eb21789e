#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs deepmir-tools with its test dependencies into .venv,
# runs the unit/CLI tests (pytest), then lints and tests the Galaxy wrappers in a real offline Galaxy.
#   bash scripts/run-all-tests.sh
# Environment: PYTHON (interpreter for the venv, default python3 >= 3.10), DEEPMIR_SKIP_GALAXY=1 (pytest only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
t0=$(date +%s)
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "WARNING: Location" || true
.venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v "WARNING: Location" || true
.venv/bin/python -c "import deepmir_tools, tensorflow, RNA, pysam, edlib, numba" # fail early if the install is incomplete
echo "[tests] install: $(( $(date +%s) - t0 )) s"
.venv/bin/python -m pytest -p no:cacheprovider -q tests
echo "[tests] pytest done: $(( $(date +%s) - t0 )) s"
if [ "${DEEPMIR_SKIP_GALAXY:-0}" != 1 ]; then
    bash galaxy/run-tests.sh
fi
echo "[tests] all done: $(( $(date +%s) - t0 )) s"

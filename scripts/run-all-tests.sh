#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs deepmir-tools with its test dependencies into .venv,
# runs the unit/CLI tests (pytest), then lints and tests the Galaxy wrappers in a real offline Galaxy.
#   bash scripts/run-all-tests.sh
# Environment: PYTHON (interpreter for the venv, default python3 >= 3.10), DEEPMIR_SKIP_GALAXY=1 (pytest only).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
t0=$(date +%s)
REPO=$(pwd)
# pip's own exit status (pipefail), with the package mirror's "WARNING: Location" noise filtered out
quiet_pip() { .venv/bin/python -m pip "$@" 2>&1 | { grep -v "WARNING: Location" || true; }; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
quiet_pip install -q --upgrade pip
quiet_pip install -q -e '.[test]'
# fail early if the install is incomplete; from outside the tree, so that the install is imported, not ./deepmir_tools
(cd /tmp && "$REPO/.venv/bin/python" -c "
import deepmir_tools, tensorflow, RNA, pysam, edlib, numba, platformdirs
from deepmir_tools import __version__
assert deepmir_tools.__file__, 'deepmir_tools imported as a namespace package (a leftover site-packages folder?)'
print('[tests] deepmir_tools', __version__, 'from', deepmir_tools.__file__)")
for tool in .venv/bin/deepmir-*; do
    (cd /tmp && "$REPO/$tool" --version >/dev/null)
done
echo "[tests] install: $(( $(date +%s) - t0 )) s"
.venv/bin/python -m pytest -p no:cacheprovider -q tests benchmarks/reads
echo "[tests] pytest done: $(( $(date +%s) - t0 )) s"
if [ "${DEEPMIR_SKIP_GALAXY:-0}" != 1 ]; then
    bash galaxy/run-tests.sh
fi
echo "[tests] all done: $(( $(date +%s) - t0 )) s"

#!/usr/bin/env bash
# Lint the Galaxy wrappers in galaxy/ and run their tests in a real Galaxy server, offline.
#
#   bash galaxy/run-tests.sh            # lint + shed_lint + planemo test of every wrapper
#   DEEPMIR_GALAXY_TOOLS="deepmir_encode.xml deepmir_classify.xml" bash galaxy/run-tests.sh   # some wrappers only
#   DEEPMIR_GALAXY_SKIP_TESTS=1 bash galaxy/run-tests.sh                   # lint only (seconds)
#   DEEPMIR_GALAXY_TASKED=1 bash galaxy/run-tests.sh    # the chunked classify tests with Galaxy's task splitting on
#
# How: one virtualenv holds planemo, the Galaxy server (galaxy-web-apps from PyPI, no git clone, no client
# build) and deepmir-tools itself; Galaxy jobs activate it through GALAXY_VIRTUAL_ENV, so the wrappers find
# the deepmir-* commands without conda or containers. planemo needs a "Galaxy root": a small shim with
# lib/galaxy/version.py and a run.sh that execs galaxy-web with celery, interactive tools and mulled
# containers off. The venv is cached (about 1.2 GB plus TensorFlow) and reused when its versions match.
#
# Environment:
#   DEEPMIR_GALAXY_VENV    the virtualenv (default ~/.cache/deepmir-galaxy/venv; built if missing)
#   DEEPMIR_GALAXY_OUT     work + report folder (default galaxy/.planemo, git-ignored); reports end up in
#                          $DEEPMIR_GALAXY_OUT/reports/ (planemo-report.html, .md, .json, .xml, planemo-test.log)
#   DEEPMIR_GALAXY_TOOLS   space-separated wrapper file names to test (default: all of galaxy/*.xml)
#   PYTHON                 the interpreter that builds the venv (default python3, needs >= 3.10)
# Exit status: 0 when lint, shed_lint and every tool test pass; 1 otherwise.
set -euo pipefail

PLANEMO_VERSION=0.75.47
GALAXY_VERSION=26.1.2

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
VENV=${DEEPMIR_GALAXY_VENV:-$HOME/.cache/deepmir-galaxy/venv}
OUT=${DEEPMIR_GALAXY_OUT:-$HERE/.planemo}
PYTHON=${PYTHON:-python3}
REPORTS=$OUT/reports
rm -rf "$OUT/tmp"                                  # planemo leaves temporary Galaxy trees here
mkdir -p "$OUT"/{ws,db,tmp} "$REPORTS"
# planemo and galaxy-tool-util leave temporary inputs and logs in $TMPDIR: keep them in our folder.
export TMPDIR=$OUT/tmp
rm -rf "$OUT/tasked-tools"                          # left by older versions of this script
t0=$(date +%s)
stamp() { echo "[galaxy $(( $(date +%s) - t0 ))s] $*"; }
# pip without the mirror's "Location ... is ignored" noise; pipefail keeps pip's own exit status
quiet_pip() { "$VENV/bin/pip" "$@" 2>&1 | { grep -v "WARNING: Location" || true; }; }

# ------------------------------------------------------------------ 1. the virtualenv (cached)
STAMP_FILE=$VENV/.deepmir-galaxy-versions
WANT="planemo==$PLANEMO_VERSION galaxy-web-apps==$GALAXY_VERSION"
if [ ! -x "$VENV/bin/galaxy-web" ] || [ "$(cat "$STAMP_FILE" 2>/dev/null)" != "$WANT" ]; then
  stamp "building $VENV: $WANT (about 2-3 min, 1.2 GB)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  quiet_pip install -q --upgrade pip
  # the `galaxy` metapackage pins a certifi release missing from some mirrors; galaxy-web-apps is enough.
  quiet_pip install -q "planemo==$PLANEMO_VERSION" "galaxy-web-apps==$GALAXY_VERSION"
  "$VENV/bin/python" -c "import galaxy.version, planemo" # fail here, not later, if the install broke
  echo "$WANT" > "$STAMP_FILE"
else
  stamp "reusing $VENV"
fi
# The tool package goes into the same venv: Galaxy jobs activate it (GALAXY_VIRTUAL_ENV). A plain (not
# editable) install tests what users get, shipped models included; --no-deps after the first time keeps
# reruns fast while still picking up code changes.
if "$VENV/bin/python" -c "import deepmir_tools" 2>/dev/null; then
  stamp "reinstalling deepmir-tools from $REPO"
  quiet_pip install -q "$REPO"                      # new dependencies, if any
  quiet_pip install -q --no-deps --force-reinstall "$REPO"
else
  stamp "installing deepmir-tools and its dependencies (TensorFlow, ViennaRNA, pysam) from $REPO"
  quiet_pip install -q "$REPO"
fi
"$VENV/bin/deepmir-encode" --version
export GALAXY_VIRTUAL_ENV=$VENV
PLANEMO=("$VENV/bin/planemo" --directory "$OUT/ws")   # keeps planemo's workspace out of ~/.planemo

# ------------------------------------------------------------------ 2. the Galaxy root shim
SHIM=$OUT/galaxy_root
mkdir -p "$SHIM/lib/galaxy"
# planemo reads <root>/lib/galaxy/version.py (>= 25.0.1: "multiprocessing" foreground mode) and runs <root>/run.sh
"$VENV/bin/python" -c "import galaxy.version, shutil, sys; shutil.copy(galaxy.version.__file__, sys.argv[1])" \
  "$SHIM/lib/galaxy/version.py"
cat > "$SHIM/run.sh" <<'EOF'
#!/bin/bash
# Called by planemo as `run.sh ARGS`; planemo has written galaxy.yml (JSON) and exported GALAXY_CONFIG_FILE.
set -euo pipefail
: "${GALAXY_CONFIG_FILE:?}"; GX_VENV="${GALAXY_VIRTUAL_ENV:?}"
PORT=$("$GX_VENV/bin/python" -c 'import json,os;print(json.load(open(os.environ["GALAXY_CONFIG_FILE"]))["gravity"]["gunicorn"]["bind"].rsplit(":",1)[1])')
export GALAXY_CONFIG_OVERRIDE_ENABLE_CELERY_TASKS=false      # planemo turns celery on; there is no worker
export GALAXY_CONFIG_OVERRIDE_INTERACTIVETOOLS_ENABLE=false
export GALAXY_CONFIG_OVERRIDE_INVOLUCRO_AUTO_INIT=false      # would try to download involucro
export GALAXY_CONFIG_OVERRIDE_ENABLE_MULLED_CONTAINERS=false
if [ "${DEEPMIR_GALAXY_TASKED:-0}" = 1 ]; then
  export GALAXY_CONFIG_OVERRIDE_USE_TASKED_JOBS=true
  # a pip-installed Galaxy looks for extract_dataset_parts.sh two folders above its working directory
  SHIM=$(cd "$(dirname "$0")" && pwd)
  mkdir -p "$SHIM/cwd/tasked" && cd "$SHIM/cwd/tasked"
fi
exec "$GX_VENV/bin/galaxy-web" -c "$GALAXY_CONFIG_FILE" -b "127.0.0.1:$PORT"
EOF
cat > "$SHIM/extract_dataset_parts.sh" <<'EOF'
#!/bin/sh
# Tasked jobs: Galaxy runs '<root>/extract_dataset_parts.sh TASK_DIR' before each task to cut its part of a split
# input. The pip-installed Galaxy ships neither this script nor scripts/extract_dataset_part.py; this is the same.
for file in "$1"/split_info*.json; do
  [ -e "$file" ] || continue
  python -c 'import importlib, json, sys
data = json.load(open(sys.argv[1]))
module, _, name = data["class_name"].rpartition(".")
sys.exit(0 if getattr(importlib.import_module(module), name).process_split_file(data) else 1)' "$file" || exit 1
done
EOF
chmod +x "$SHIM/run.sh" "$SHIM/extract_dataset_parts.sh"

# Optional (DEEPMIR_GALAXY_TASKED=1): Galaxy's task splitting, on the chunked classify wrapper with chunks of 8
# records so that the small test inputs give several tasks; the merged tables must pass the same tests.
TASKED_ARGS=()
if [ "${DEEPMIR_GALAXY_TASKED:-0}" = 1 ]; then
  export DEEPMIR_GALAXY_TASKED
  TASKED_DIR=$(mktemp -d "${TMPDIR:-/tmp}/deepmir-tasked-tools.XXXXXX")   # a temporary copy, never linted or shipped
  cp "$HERE/macros.xml" "$TASKED_DIR/"
  ln -s "$HERE/test-data" "$TASKED_DIR/test-data"
  sed 's/split_size="50000"/split_size="8"/' "$HERE/deepmir_classify_chunked.xml" > "$TASKED_DIR/deepmir_classify_chunked.xml"
  cat > "$OUT/job_conf_tasked.yml" <<'EOF'
runners:
  local:
    load: galaxy.jobs.runners.local:LocalJobRunner
    workers: 2
  tasks:
    load: galaxy.jobs.runners.tasks:TaskedJobRunner
    workers: 2
execution:
  default: local
  environments:
    local:
      runner: local
EOF
  TASKED_ARGS=(--job_config_file "$OUT/job_conf_tasked.yml")
  DEEPMIR_GALAXY_TOOLS="$TASKED_DIR/deepmir_classify_chunked.xml"
fi

# ------------------------------------------------------------------ 3. lint (offline)
rc=0
cd "$HERE"
if [ -n "${DEEPMIR_GALAXY_TOOLS:-}" ]; then
  read -r -a TOOL_XMLS <<< "$DEEPMIR_GALAXY_TOOLS"
else
  # the tool XMLs of this folder only (not macros.xml, nothing under .planemo/)
  mapfile -t TOOL_XMLS < <(grep -l '^<tool ' "$HERE"/*.xml | xargs -n1 basename | sort)
fi
[ "${#TOOL_XMLS[@]}" -gt 0 ] || { echo "no tool XML found in $HERE"; exit 1; }
# Offline: the network checks (--doi, --urls, --conda_requirements, --biocontainer) are opt-in and left out;
# BioToolsValid (asks the bio.tools API whether the xref exists) and shed_lint's version_bumped (asks the Tool
# Shed) are on by default and skipped here. Every other lint check runs at --fail_level warn. shed_lint compares the
# end of remote_repository_url (.../deepmir-tools/tree/main/galaxy) with the end of the folder's path, which only a
# checkout folder named "main" would match, so it lints a copy laid out as that URL's path.
stamp "planemo lint --fail_level warn"
"${PLANEMO[@]}" lint --fail_level warn --skip BioToolsValid "$HERE" || rc=1
stamp "planemo shed_lint"
SHED_COPY=$OUT/shed-lint/deepmir-tools/tree/main/galaxy
rm -rf "$OUT/shed-lint" && mkdir -p "$SHED_COPY"
(cd "$HERE" && tar --exclude=./.planemo -cf - .) | tar -xf - -C "$SHED_COPY"
"${PLANEMO[@]}" shed_lint --tools --ensure_metadata --fail_level warn --skip version_bumped,BioToolsValid "$SHED_COPY" || rc=1
[ "$rc" = 0 ] || stamp "lint FAILED"

# ------------------------------------------------------------------ 4. planemo test (planemo starts and stops Galaxy)
if [ "${DEEPMIR_GALAXY_SKIP_TESTS:-0}" = 1 ]; then
  stamp "tests skipped (DEEPMIR_GALAXY_SKIP_TESTS=1)"; exit $rc
fi
rm -f "$OUT/db/galaxy.sqlite" "$REPORTS"/planemo-report.*     # a fresh database: every run starts clean
stamp "planemo test (log: $REPORTS/planemo-test.log)"
set +e
# --job_workers 2: a test's uploads (and the two cores) are used in parallel instead of one job at a time.
"${PLANEMO[@]}" test --galaxy_root "$SHIM" --no_dependency_resolution --no_conda_auto_init --no_conda_auto_install \
  --job_workers 2 "${TASKED_ARGS[@]}" \
  --database_connection "sqlite:///$OUT/db/galaxy.sqlite?isolation_level=IMMEDIATE" \
  --test_output_json "$REPORTS/planemo-report.json" \
  --test_output "$REPORTS/planemo-report.html" \
  --test_output_xunit "$REPORTS/planemo-report.xml" \
  --summary minimal \
  "${TOOL_XMLS[@]}" > "$REPORTS/planemo-test.log" 2>&1
test_rc=$?
set -e
tail -n 15 "$REPORTS/planemo-test.log"
if [ -f "$REPORTS/planemo-report.json" ]; then
  "${PLANEMO[@]}" test_reports --test_output "$REPORTS/planemo-report.html" \
    --test_output_markdown "$REPORTS/planemo-report.md" "$REPORTS/planemo-report.json" \
    > /dev/null 2>&1 || true
  # One plain summary line; "0 passed" (no test ran) counts as a failure too.
  "$VENV/bin/python" - "$REPORTS/planemo-report.json" <<'EOF' || test_rc=1
import json, sys
tests = json.load(open(sys.argv[1]))["tests"]
status = [t["data"].get("status") for t in tests]
passed = sum(s == "success" for s in status)
failed = len(status) - passed
for t in tests:
    if t["data"].get("status") != "success":
        print("galaxy: FAILED", t["id"], t["data"].get("status"), file=sys.stderr)
print(f"galaxy: {passed} passed, {failed} failed")
sys.exit(0 if passed and not failed else 1)
EOF
else
  echo "galaxy: no test report written (see $REPORTS/planemo-test.log)"; test_rc=1
fi
[ "$test_rc" = 0 ] || rc=1
stamp "done: lint+tests exit status $rc; reports in $REPORTS"
exit $rc

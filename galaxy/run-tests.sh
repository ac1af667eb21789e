#!/usr/bin/env bash
# Lint the Galaxy wrappers in galaxy/ and run their tests in a real Galaxy server, offline: every tool wrapper, the
# data manager (data_manager/*.xml, with data_manager_conf.xml) and the workflows (workflows/*.gxwf.yml, with their
# -tests.yml files), all in one Galaxy.
#
#   bash galaxy/run-tests.sh            # lint + shed_lint + workflow_lint + planemo test of everything
#   DEEPMIR_GALAXY_TOOLS="deepmir_encode.xml deepmir_classify.xml" bash galaxy/run-tests.sh   # some targets only
#   DEEPMIR_GALAXY_TOOLS="data_manager/deepmir_model_installer.xml workflows/deepmir-read-counts.gxwf.yml" bash galaxy/run-tests.sh
#   DEEPMIR_GALAXY_SKIP_TESTS=1 bash galaxy/run-tests.sh                   # lint only (seconds)
#
# How: one virtualenv holds planemo, the Galaxy server (galaxy-web-apps from PyPI, no git clone, no client
# build) and deepmir-tools itself; Galaxy jobs activate it through GALAXY_VIRTUAL_ENV, so the wrappers find
# the deepmir-* commands without conda or containers. planemo needs a "Galaxy root": a small shim with
# lib/galaxy/version.py and a run.sh that execs galaxy-web with celery, interactive tools and mulled
# containers off. The venv is cached (about 1.2 GB plus TensorFlow) and reused when its versions match.
# The deepmir_models data table of the tests is a copy of tool_data_table_conf.xml.test and
# test-data/deepmir_models.loc in the work folder: the data manager's test appends its entry to the copy.
# planemo tests a workflow in a Galaxy of its own: every tool XML is loaded there with --extra_tools.
#
# Environment:
#   DEEPMIR_GALAXY_VENV    the virtualenv (default ~/.cache/deepmir-galaxy/venv; built if missing)
#   DEEPMIR_GALAXY_OUT     work + report folder (default galaxy/.planemo, git-ignored); reports end up in
#                          $DEEPMIR_GALAXY_OUT/reports/ (planemo-report.html, .md, .json, .xml, planemo-test.log)
#   DEEPMIR_GALAXY_TOOLS   space-separated targets to test, relative to galaxy/: tool XMLs, data manager XMLs
#                          (data_manager/...), workflows (workflows/....gxwf.yml); default: all of them
#   PYTHON                 the interpreter that builds the venv (default python3, needs >= 3.10)
# Exit status: 0 when lint, shed_lint, workflow_lint and every test pass; 1 otherwise.
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
rm -rf "$OUT/tasked-tools" "$OUT/job_conf_tasked.yml"   # left by older versions of this script
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
exec "$GX_VENV/bin/galaxy-web" -c "$GALAXY_CONFIG_FILE" -b "127.0.0.1:$PORT"
EOF
chmod +x "$SHIM/run.sh"
rm -f "$SHIM/extract_dataset_parts.sh"                 # left by older versions of this script (tasked jobs)

# ------------------------------------------------------------------ 3. lint (offline)
rc=0
cd "$HERE"
# the tool XMLs of this folder (not macros.xml, nothing under .planemo/), the data managers, the workflows
mapfile -t ALL_TOOLS < <(grep -l '^<tool ' "$HERE"/*.xml | xargs -n1 basename | sort)
mapfile -t ALL_DMS < <(cd "$HERE" && grep -l '^<tool ' data_manager/*.xml 2>/dev/null | sort)
mapfile -t ALL_WORKFLOWS < <(cd "$HERE" && ls workflows/*.gxwf.yml 2>/dev/null | sort)
if [ -n "${DEEPMIR_GALAXY_TOOLS:-}" ]; then
  read -r -a TARGETS <<< "$DEEPMIR_GALAXY_TOOLS"
else
  TARGETS=("${ALL_TOOLS[@]}" "${ALL_DMS[@]}" "${ALL_WORKFLOWS[@]}")
fi
for target in "${TARGETS[@]}"; do [ -f "$target" ] || [ -f "$HERE/$target" ] || { echo "no such test target: galaxy/$target"; exit 1; }; done
# Workflows first: planemo 0.75.47 runs workflow tests (in a Galaxy of their own) before tool tests and pairs the
# results with the test cases in target order, so a workflow listed after a tool gets a tool's result (and crashes).
# (grep finding nothing must not end the subshell: it inherits set -e and pipefail.)
mapfile -t TARGETS < <(printf '%s\n' "${TARGETS[@]}" | { grep '\.gxwf\.yml$' || true; }
                       printf '%s\n' "${TARGETS[@]}" | { grep -v '\.gxwf\.yml$' || true; })
[ "${#TARGETS[@]}" -gt 0 ] || { echo "no test target found in $HERE"; exit 1; }   # planemo would test the folder
# Offline: the network checks (--doi, --urls, --conda_requirements, --biocontainer) are opt-in and left out;
# BioToolsValid (asks the bio.tools API whether the xref exists) and shed_lint's version_bumped (asks the Tool
# Shed) are on by default and skipped here. Every other lint check runs at --fail_level warn. shed_lint compares the
# end of remote_repository_url (.../deepmir-tools/tree/main/galaxy) with the end of the folder's path, which only a
# checkout folder named "main" would match, so it lints a copy laid out as that URL's path.
stamp "planemo lint --fail_level warn"
"${PLANEMO[@]}" lint --fail_level warn --skip BioToolsValid "$HERE" "${ALL_DMS[@]}" || rc=1
stamp "planemo shed_lint"
SHED_COPY=$OUT/shed-lint/deepmir-tools/tree/main/galaxy
rm -rf "$OUT/shed-lint" && mkdir -p "$SHED_COPY"
(cd "$HERE" && tar --exclude=./.planemo -cf - .) | tar -xf - -C "$SHED_COPY"
"${PLANEMO[@]}" shed_lint --tools --ensure_metadata --fail_level warn --skip version_bumped,BioToolsValid "$SHED_COPY" || rc=1
if [ "${#ALL_WORKFLOWS[@]}" -gt 0 ]; then
  stamp "planemo workflow_lint --fail_level warn"
  for workflow in "${ALL_WORKFLOWS[@]}"; do
    "${PLANEMO[@]}" workflow_lint --fail_level warn "$workflow" || rc=1
  done
fi
[ "$rc" = 0 ] || stamp "lint FAILED"

# ------------------------------------------------------------------ 4. planemo test (planemo starts and stops Galaxy)
if [ "${DEEPMIR_GALAXY_SKIP_TESTS:-0}" = 1 ]; then
  stamp "tests skipped (DEEPMIR_GALAXY_SKIP_TESTS=1)"; exit $rc
fi
rm -f "$OUT/db/galaxy.sqlite" "$REPORTS"/planemo-report.*     # a fresh database: every run starts clean
# The deepmir_models test table, copied: the data manager's test appends a line to the table's .loc file, which must
# not be test-data/deepmir_models.loc. ${__HERE__} of the .loc copy is set to the real test-data/ (the model files).
TABLES=$OUT/tool-data-test
rm -rf "$TABLES" && mkdir -p "$TABLES/test-data"
cp "$HERE/tool_data_table_conf.xml.test" "$TABLES/"
sed "s|\${__HERE__}|$HERE/test-data|g" "$HERE/test-data/deepmir_models.loc" > "$TABLES/test-data/deepmir_models.loc"
# A workflow needs its tools in Galaxy. planemo tests workflows in a Galaxy of their own, which loads only the
# workflows and --extra_tools, so every tool XML goes in as an extra tool (named as in TARGETS, which planemo
# dedupes in the Galaxy of the tool tests).
EXTRA_TOOLS=()
if printf '%s\n' "${TARGETS[@]}" | grep -q '\.gxwf\.yml$'; then
  for tool in "${ALL_TOOLS[@]}"; do EXTRA_TOOLS+=(--extra_tools "$tool"); done
fi
stamp "planemo test of ${#TARGETS[@]} targets (log: $REPORTS/planemo-test.log)"
set +e
# --job_workers 2: a test's uploads (and the two cores) are used in parallel instead of one job at a time.
"${PLANEMO[@]}" test --galaxy_root "$SHIM" --no_dependency_resolution --no_conda_auto_init --no_conda_auto_install \
  --no_shed_install --job_workers 2 "${EXTRA_TOOLS[@]}" \
  --test_data "$HERE/test-data" --tool_data_table "$TABLES/tool_data_table_conf.xml.test" \
  --database_connection "sqlite:///$OUT/db/galaxy.sqlite?isolation_level=IMMEDIATE" \
  --test_output_json "$REPORTS/planemo-report.json" \
  --test_output "$REPORTS/planemo-report.html" \
  --test_output_xunit "$REPORTS/planemo-report.xml" \
  --summary minimal \
  "${TARGETS[@]}" > "$REPORTS/planemo-test.log" 2>&1
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

#!/usr/bin/env bash
# Runs every test of the collection: the README's test command, and what .ci/run calls.
#   scripts/test.sh                      all stages
#   scripts/test.sh units lint           only those stages
#   scripts/test.sh integration -k labels   extra arguments go to pytest (or molecule scenario names)
# Stages: sanity, units, lint, integration, molecule. Each installs and starts what it needs.
# Ends with one line "checks: N passed, N failed" and exits non-zero when anything failed.
source "$(dirname "$0")/lib.sh"

ALL_STAGES=(sanity units lint integration molecule)
stages=()
while [ $# -gt 0 ]; do
  case "$1" in
    sanity|units|lint|integration|molecule) stages+=("$1"); shift ;;
    *) break ;;
  esac
done
extra_args=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${ALL_STAGES[@]}")

# SCIPLAT_RESULTS_DIR lets runs side by side keep their reports apart.
RESULTS_DIR="${SCIPLAT_RESULTS_DIR:-$SCIPLAT_ROOT/tests/output/results}"
rm -rf "$RESULTS_DIR"
mkdir -p "$RESULTS_DIR"
passed=0
failed=0
failures=()

record() {  # record NAME PASSED FAILED
  passed=$((passed + $2))
  failed=$((failed + $3))
  [ "$3" -eq 0 ] || failures+=("$1")
}

# Counts of a pytest junit report; a run that executed no test counts as one failure.
record_junit() {  # record_junit NAME XML EXIT_CODE
  local counts
  counts=$(python3 - "$2" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 0"); sys.exit()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - bad - skipped, bad)
PY
)
  local ok bad
  read -r ok bad <<<"$counts"
  if [ "$3" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi  # collection errors, exit 5 (no tests), crashes
  record "$1" "$ok" "$bad"
}

ensure_test_environment() {
  [ -n "${__sciplat_env_ready:-}" ] && return 0
  step "building the test cluster binaries (cached in $SCIPLAT_CACHE)"
  python "$SCIPLAT_ROOT/tests/cluster/testcluster.py" build
  step "starting the test cluster"
  python "$SCIPLAT_ROOT/tests/cluster/testcluster.py" start
  eval "$(python "$SCIPLAT_ROOT/tests/cluster/testcluster.py" env)"
  step "building node container images"
  python "$SCIPLAT_ROOT/tests/nodes/nodes.py" build
  eval "$(python "$SCIPLAT_ROOT/tests/nodes/nodes.py" env)"
  ensure_chart_mirror
  __sciplat_env_ready=1
}

# ansible-test fetches a pip bootstrap script from a host CI cannot reach unless a cached copy
# exists; scripts/ansible_test_get_pip.py does the same job from PyPI.
install_pip_bootstrap_for_ansible_test() {
  local pip_version
  pip_version=$(python - <<'PY'
import re
import ansible_test._internal.python_requirements as requirements
print(re.search(r"pip='([0-9.]+)'", open(requirements.__file__).read()).group(1))
PY
)
  mkdir -p "$HOME/.ansible/test/cache"
  cp "$SCIPLAT_ROOT/scripts/ansible_test_get_pip.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
}

run_sanity() {
  step "ansible-test sanity (no ignore entries allowed)"
  if ls "$SCIPLAT_ROOT"/tests/sanity/ignore-*.txt >/dev/null 2>&1; then
    echo "tests/sanity/ignore-*.txt exists: the collection must pass sanity without ignores" >&2
    record sanity 0 1
    return
  fi
  # ansible-test resolves its working directory, so a symlinked tree is not enough: test a copy of
  # what git would ship (tracked and untracked-but-not-ignored files).
  # One copy per run: developers may run sanity side by side.
  local copy_root="$SCIPLAT_CACHE/sanity/run-$$"
  local copy="$copy_root/ansible_collections/sciplat/k8s"
  rm -rf "$copy_root"
  mkdir -p "$copy"
  (cd "$SCIPLAT_ROOT" && git ls-files -co --exclude-standard -z | rsync -a --ignore-missing-args --from0 --files-from=- ./ "$copy/")
  install_pip_bootstrap_for_ansible_test
  local rc=0
  (cd "$copy" && ansible-test sanity --venv --python 3.11 --color no --junit "${extra_args[@]}") || rc=$?
  # ansible-test writes one junit file per sanity test; it prints nothing countable on success.
  local total bad
  total=$(find "$copy/tests/output/junit" -name 'ansible-test-sanity-*.xml' 2>/dev/null | wc -l)
  bad=$({ grep -l '<failure' "$copy"/tests/output/junit/ansible-test-sanity-*.xml 2>/dev/null || true; } | wc -l)
  # With --junit, ansible-test puts the findings only in the reports: show them in the log too.
  [ "$bad" -eq 0 ] || python3 - "$copy"/tests/output/junit/ansible-test-sanity-*.xml <<'PY' >&2
import sys, xml.etree.ElementTree as ET
for path in sys.argv[1:]:
    for case in ET.parse(path).getroot().iter("testcase"):
        for failure in case.findall("failure"):
            print(f"{case.get('classname')} {case.get('name')}: {failure.get('message') or ''}\n{failure.text or ''}")
PY
  [ "$rc" -eq 0 ] || [ "$bad" -gt 0 ] || bad=1
  rm -rf "$copy_root"
  record sanity $((total - bad)) "$bad"
}

run_units() {
  ensure_mipdb_venv
  step "unit tests"
  local rc=0
  (cd "$SCIPLAT_COLLECTION_DIR" && PYTHONPATH="$SCIPLAT_CACHE/collections" \
      python -m pytest tests/unit -q -p no:cacheprovider --import-mode=importlib --junitxml="$RESULTS_DIR/units.xml" "${extra_args[@]}") || rc=$?
  record_junit units "$RESULTS_DIR/units.xml" "$rc"
}

run_lint() {
  step "ansible-lint (production profile)"
  if (cd "$SCIPLAT_ROOT" && ansible-lint --profile production --nocolor); then
    record lint 1 0
  else
    record lint 0 1
  fi
}

# The platform modules deploy real charts and need no node container. In a full run they go to a second
# test cluster of their own (SCIPLAT_CLUSTER_INSTANCE=1) and run beside the rest: one stream of Ansible keeps
# about one of CI's two cores busy, and two clusters keep the streams' Nodes, labels and releases apart.
PLATFORM_MODULES=(test_exaflow_mip test_cytomine test_scipion test_datalab test_datalab_contract test_cellxgene
  test_onedata test_onedata_role test_helm_release_faults test_helm_release_sources test_generated_secret
  test_mip_contract test_awx test_site_preflight)
PLATFORM_CLUSTER=1

integration_pytest() {  # integration_pytest REPORT_NAME PYTEST_ARGS...
  local name=$1 rc=0
  shift
  (cd "$SCIPLAT_ROOT" && PYTHONPATH="$SCIPLAT_CACHE/collections" \
      python -m pytest -p no:cacheprovider -rfE --junitxml="$RESULTS_DIR/$name.xml" "$@") || rc=$?
  record_junit "$name" "$RESULTS_DIR/$name.xml" "$rc"
}

platform_paths() {
  local module
  for module in "${PLATFORM_MODULES[@]}"; do printf 'tests/integration/%s.py\n' "$module"; done
}

run_integration() {
  ensure_test_environment
  if [ -n "${platform_stream_pid:-}" ]; then
    step "integration tests (node containers; the platform modules run beside them on cluster $PLATFORM_CLUSTER)"
    local ignores=()
    local path
    while read -r path; do ignores+=(--ignore="$path"); done < <(platform_paths)
    integration_pytest integration tests/integration "${ignores[@]}"
  else
    step "integration tests against the test cluster and node containers"
    integration_pytest integration tests/integration "${extra_args[@]}"
  fi
}

# Starts the platform modules on their own cluster in the background; wait_platform_stream collects them.
start_platform_stream() {
  ensure_test_environment
  step "platform integration tests start on test cluster $PLATFORM_CLUSTER (log: $RESULTS_DIR/integration-platforms.log)"
  (
    export SCIPLAT_CLUSTER_INSTANCE=$PLATFORM_CLUSTER
    python "$SCIPLAT_ROOT/tests/cluster/testcluster.py" start
    eval "$(python "$SCIPLAT_ROOT/tests/cluster/testcluster.py" env)"
    eval "$(python "$SCIPLAT_ROOT/tests/nodes/nodes.py" env)"
    cd "$SCIPLAT_ROOT" || exit 1
    readarray -t paths < <(platform_paths)
    PYTHONPATH="$SCIPLAT_CACHE/collections" python -m pytest -p no:cacheprovider -rfE \
      --junitxml="$RESULTS_DIR/integration-platforms.xml" "${paths[@]}"
  ) > "$RESULTS_DIR/integration-platforms.log" 2>&1 &
  platform_stream_pid=$!
  platform_stream_started=$SECONDS
}

wait_platform_stream() {
  local rc=0
  wait "$platform_stream_pid" || rc=$?
  step "platform integration tests on cluster $PLATFORM_CLUSTER (finished after $((SECONDS - platform_stream_started))s)"
  cat "$RESULTS_DIR/integration-platforms.log" >&2
  record_junit integration-platforms "$RESULTS_DIR/integration-platforms.xml" "$rc"
}

# Writes one "scenario<TAB>passed|failed" line per scenario to $RESULTS_DIR/molecule.tsv.
run_molecule_scenarios() {
  local scenarios=("$@")
  if [ ${#scenarios[@]} -eq 0 ]; then
    local f
    for f in "$SCIPLAT_ROOT"/molecule/*/molecule.yml; do
      [ -f "$f" ] && scenarios+=("$(basename "$(dirname "$f")")")
    done
  fi
  local scenario started
  for scenario in "${scenarios[@]}"; do
    step "molecule scenario $scenario"
    started=$SECONDS
    if (cd "$SCIPLAT_ROOT" && molecule test -s "$scenario"); then
      printf '%s\tpassed\n' "$scenario" >> "$RESULTS_DIR/molecule.tsv"
    else
      printf '%s\tfailed\n' "$scenario" >> "$RESULTS_DIR/molecule.tsv"
    fi
    printf '==> molecule scenario %s finished in %ss\n' "$scenario" $((SECONDS - started)) >&2
  done
}

record_molecule() {
  local scenario outcome
  if [ ! -s "$RESULTS_DIR/molecule.tsv" ]; then
    record molecule 0 1  # no scenario reported: the stage itself broke
    return
  fi
  while IFS=$'\t' read -r scenario outcome; do
    if [ "$outcome" = passed ]; then record "molecule:$scenario" 1 0; else record "molecule:$scenario" 0 1; fi
  done < "$RESULTS_DIR/molecule.tsv"
}

run_molecule() {
  ensure_test_environment
  run_molecule_scenarios "${extra_args[@]}"
  record_molecule
}

ensure_apt_packages
ensure_venv
activate
# A whole integration stage (no pytest arguments) splits into two streams; see PLATFORM_MODULES.
if [[ " ${stages[*]} " == *" integration "* ]] && [ ${#extra_args[@]} -eq 0 ]; then
  start_platform_stream
fi
for stage in "${stages[@]}"; do
  started=$SECONDS
  "run_$stage"
  printf '==> %s finished in %ss\n' "$stage" $((SECONDS - started)) >&2
done
[ -z "${platform_stream_pid:-}" ] || wait_platform_stream
[ ${#failures[@]} -eq 0 ] || printf 'FAILED: %s\n' "${failures[*]}" >&2
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

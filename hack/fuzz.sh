#!/usr/bin/env bash
# Runs every Go native fuzz target in the repository, each for $FUZZTIME.
#
#   hack/fuzz.sh                      # FUZZTIME=60s (make fuzz)
#   FUZZTIME=5s hack/fuzz.sh          # what CI runs
#   FUZZ=FuzzDecode hack/fuzz.sh      # only the targets whose name matches the regexp
#
# The targets are found, not listed: every `func FuzzX(f *testing.F)` in a
# _test.go file, so a target added anywhere is run without editing this
# script. `go test -fuzz` takes one target of one package at a time, so each
# runs on its own; a failure's input is written by Go to the package's
# testdata/fuzz/FuzzX/ (commit it with the fix: it becomes a regression test).
# Prints a line per target and a summary; fails when any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
FUZZ=${FUZZ:-.}

# "dir name" for each target, sorted, skipping what is not the module's code.
targets=$(grep -rE --include='*_test.go' \
  --exclude-dir=.git --exclude-dir=bin --exclude-dir=testdata --exclude-dir=node_modules --exclude-dir=.cache \
  '^func Fuzz[A-Za-z0-9_]*\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\)' . |
  sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#' |
  grep -E " (${FUZZ})" | LC_ALL=C sort -u || true)
if [ -z "$targets" ]; then
  echo "fuzz: no fuzz targets matching '$FUZZ'" >&2
  exit 1
fi

# corpus_size is how many inputs the target's testdata corpus holds.
corpus_size() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | wc -l; }

# run_target fuzzes one target, once more if the first run's only failure
# is Go's own "context deadline exceeded" at the end of -fuzztime with no
# failing input written: a race in the fuzzing coordinator of Go 1.26
# (go.dev/issue/75804, fixed in Go 1.27), not the target's.
run_target() {
  local dir=$1 name=$2 log=$3 before
  for try in 1 2; do
    before=$(corpus_size "$dir" "$name")
    if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" >"$log" 2>&1; then
      return 0
    fi
    if [ "$try" -eq 2 ] || [ "$(corpus_size "$dir" "$name")" != "$before" ] ||
      [ "$(grep -cvE '^(fuzz: elapsed|--- FAIL: |    context deadline exceeded$|FAIL|exit status 1$|ok |PASS$|warning: starting with empty corpus$)' "$log")" != 0 ]; then
      return 1
    fi
    echo "fuzz: $name: Go's fuzzing deadline race (go.dev/issue/75804), no failing input; running it again" >&2
  done
}

passed=0
failed=0
summary=()
while read -r dir name; do
  echo "=== fuzz $name (./$dir) for $FUZZTIME" >&2
  start=$SECONDS
  log=$(mktemp)
  if run_target "$dir" "$name" "$log"; then
    result=ok
    passed=$((passed + 1))
    tail -n 3 "$log" | grep -E '^fuzz: elapsed' | tail -n 1 >&2 || true
  else
    result=FAIL
    failed=$((failed + 1))
    grep -vE '^fuzz: elapsed' "$log" | tail -n 40 >&2
  fi
  rm -f "$log"
  summary+=("$(printf '%-4s %-28s ./%-34s %4ds' "$result" "$name" "$dir" $((SECONDS - start)))")
done <<<"$targets"

echo
printf '%s\n' "${summary[@]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

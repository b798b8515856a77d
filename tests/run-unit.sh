#!/usr/bin/env bash
# Run criterion unit-test binaries, show what failed, and end with one line
# "N passed, M failed" counting test cases over all binaries.
#
# usage: tests/run-unit.sh BIN...
#
# Exit status is 0 only if every binary ran to its synthesis line and no test
# failed or crashed. A test that passes but crashes in its teardown (for
# example a LeakSanitizer report at the end of the test's process) counts as
# failed, and so does a binary that cannot run, dies before reporting, or exits
# non-zero without a failed test to show for it.
#
# Environment:
#   UNIT_JOBS     concurrent test processes per binary (default 2)
#   UNIT_TIMEOUT  seconds a single test may take (default 60)
#   UNIT_ARGS     more criterion arguments, e.g. "--filter loop/*"
set -u

if [ $# -eq 0 ]; then
	echo "usage: $0 BIN..." >&2
	echo "0 passed, 0 failed"
	exit 2
fi

jobs=${UNIT_JOBS:-2}
timeout=${UNIT_TIMEOUT:-60}
out=$(mktemp "${TMPDIR:-/tmp}/kfwd-unit.XXXXXX") || exit 2
trap 'rm -f "$out"' EXIT

passed=0
failed=0
bad_bins=()

for bin in "$@"; do
	name=$(basename "$bin")
	if [ ! -x "$bin" ]; then
		echo "FAIL $name: $bin is not an executable file"
		failed=$((failed + 1))
		bad_bins+=("$name")
		continue
	fi
	# Criterion prints failures, warnings and the synthesis; everything else
	# (sanitizer reports included) lands in the same file.
	# shellcheck disable=SC2086
	"$bin" --jobs "$jobs" --timeout "$timeout" --color=never -S ${UNIT_ARGS:-} >"$out" 2>&1 </dev/null
	rc=$?
	synth=$(sed -e 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^\[=+\] Synthesis: ' | tail -n 1)
	if [ -z "$synth" ]; then
		cat "$out"
		echo "FAIL $name: no test synthesis (exit status $rc): the binary did not run to the end"
		failed=$((failed + 1))
		bad_bins+=("$name")
		continue
	fi
	field() { sed -n -E "s/.*$1: *([0-9]+).*/\1/p" <<<"$synth"; }
	tested=$(field Tested)
	pass=$(field Passing)
	fail=$(field Failing)
	crash=$(field Crashing)
	# A passing test whose process crashed after the test body (leak report, abort in
	# teardown) is only a warning for criterion: count it as a failure here.
	late=$(grep -c 'crashed during its setup or teardown' "$out")
	if [ "$late" -gt "$pass" ]; then late=$pass; fi
	pass=$((pass - late))
	fail=$((fail + late))
	if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		# Something went wrong outside any test (e.g. the runner itself leaked).
		fail=1
	fi
	passed=$((passed + pass))
	failed=$((failed + fail))
	if [ "$fail" -ne 0 ]; then
		cat "$out"
		echo "FAIL $name: $tested tested, $pass passed, $fail failed ($crash crashed), exit status $rc"
		bad_bins+=("$name")
	else
		echo "ok   $name: $pass passed"
	fi
done

if [ ${#bad_bins[@]} -ne 0 ]; then
	echo "failing: ${bad_bins[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#bad_bins[@]} -eq 0 ]

#!/usr/bin/env bash
# kfwd integration suite: each tests/integration/test_*.py runs as its own
# process (root, network namespaces it creates and removes itself).
#
#   bash tests/integration/run.sh [NAME...]
#
# NAME selects tests whose file name contains it (test_udp, udp, reload, ...).
# Environment:
#   KFWD          daemon binary under test (default build/kfwd; e.g. build/kfwd-asan)
#   KFWD_PEER     traffic tool (default build/tools/kfwd-peer)
#   TEST_TIMEOUT  seconds per test before it is stopped (default 240)
#   KFWD_KEEP_TMP keep every test's temporary folder (logs, configs)
# Ends with the line "N passed, M failed"; exits 1 if M > 0.
set -u
shopt -s nullglob

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

if [[ $(id -u) -ne 0 ]]; then
	echo "integration tests need root (network namespaces, veth links); run them as root" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

export KFWD=${KFWD:-build/kfwd}
export KFWD_PEER=${KFWD_PEER:-build/tools/kfwd-peer}
case $KFWD in
*asan*)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
	;;
esac
export PYTHONDONTWRITEBYTECODE=1
python=/usr/bin/python3
per_test=${TEST_TIMEOUT:-240}

missing=0
for f in "$KFWD" "$KFWD_PEER" "$python"; do
	if [[ ! -x $f ]]; then
		echo "missing $f (build with: make all build/tools/kfwd-peer)" >&2
		missing=1
	fi
done
for tool in ip timeout; do
	command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; missing=1; }
done
if ((missing)); then
	echo "0 passed, 1 failed"
	exit 1
fi

# Namespaces are named kfwdt-<pid>-<role> by the test process that made them.
# A test killed hard (SIGKILL after its timeout) cannot clean up: remove what
# belongs to test processes that no longer exist. Live runs are left alone.
stale_cleanup() {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }' | grep -E '^kfwdt-[0-9]+-'); do
		pid=${ns#kfwdt-}
		pid=${pid%%-*}
		if [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'test_.*\.py'; then
			continue
		fi
		# Processes left inside were started there by that test run.
		local pids
		for _ in 1 2 3; do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[[ -z $pids ]] && break
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null
			sleep 0.1
		done
		ip netns del "$ns" 2>/dev/null && echo "removed stale namespace $ns"
	done
}

tests=()
for t in "$here"/test_*.py; do
	name=$(basename "$t" .py)
	if (($# == 0)); then
		tests+=("$t")
		continue
	fi
	for want in "$@"; do
		if [[ $name == *"$want"* ]]; then
			tests+=("$t")
			break
		fi
	done
done
if ((${#tests[@]} == 0)); then
	echo "no test matches: $*" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

stale_cleanup
echo "kfwd integration: ${#tests[@]} test(s), KFWD=$KFWD"
passed=0
failed=0
failed_names=()
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
suite_start=$EPOCHREALTIME
out=$(mktemp /tmp/kfwd-integration.XXXXXX)
trap 'rm -f "$out"' EXIT
for t in "${tests[@]}"; do
	name=$(basename "$t" .py)
	start=$EPOCHREALTIME
	# SIGTERM at the limit lets the test tear down; SIGKILL 15 s later if it hangs.
	timeout -k 15 "$per_test" "$python" "$t" >"$out" 2>&1
	rc=$?
	dur=$(elapsed "$start")
	if ((rc == 0)); then
		passed=$((passed + 1))
		printf 'PASS %-32s %6ss\n' "$name" "$dur"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		why="exit $rc"
		((rc == 124 || rc == 137)) && why="timed out after ${per_test}s"
		printf 'FAIL %-32s %6ss  (%s)\n' "$name" "$dur" "$why"
		# the failed assertion first: the log dump below can be long
		grep -E '^[A-Za-z.]*(Error|Exception|Interrupted): ' "$out" | tail -1 | sed 's/^/    why: /'
		sed 's/^/    | /' "$out"
	fi
	stale_cleanup
done
echo "suite time $(elapsed "$suite_start")s"
((failed)) && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
((failed == 0))

# perf/lib.sh — helpers shared by perf/run.sh (TCP) and perf/run-udp.sh (UDP).
# Sourced, not run. The caller sets BENCH_TAG (log prefix), LIFETIME (upper
# bound in seconds for any background process), PY (a python3), and declares
# BG_PIDS=() and CLIENT_PID= before starting anything.

say() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$BENCH_TAG" "$*" >&2; exit 1; }
isint() { [[ $1 =~ ^[0-9]+$ ]]; }

stop_pid() { # PID: TERM its process group, KILL after 5 s, reap
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

forget_pid() {
	local p keep=()
	for p in "${BG_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	BG_PIDS=("${keep[@]}")
}

# start_bg LOG CMD...: start CMD in the background, bounded by LIFETIME; sets BG_LAST.
BG_LAST=
start_bg() {
	local log=$1
	shift
	timeout -k 5 "$LIFETIME" "$@" >"$log" 2>&1 </dev/null &
	BG_LAST=$!
	BG_PIDS+=("$BG_LAST")
}

# run_client SECONDS OUT ERR CMD...: run a client bounded in time, interruptible.
run_client() {
	local secs=$1 out=$2 err=$3 rc
	shift 3
	timeout -k 3 "$secs" "$@" >"$out" 2>"$err" </dev/null &
	CLIENT_PID=$!
	wait "$CLIENT_PID"
	rc=$?
	CLIENT_PID=
	return "$rc"
}

jstr() { "$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }
oneline() { tr '\n' ' ' <"$1" | sed 's/  */ /g; s/^ //; s/ $//' | cut -c1-300; }
first_line() { "$@" 2>&1 | head -n1; }
kv() { local -n a=$1; local k; for k in "${!a[@]}"; do printf '%s=%s\n' "$k" "${a[$k]}"; done; }

# /proc/stat busy jiffies, all cores: user+nice+system+irq+softirq+steal.
cpu_busy() {
	local _c u n s idle io irq sirq st _rest
	read -r _c u n s idle io irq sirq st _rest </proc/stat
	echo $((u + n + s + irq + sirq + st))
}
cpu_total() {
	local _c u n s idle io irq sirq st _rest
	read -r _c u n s idle io irq sirq st _rest </proc/stat
	echo $((u + n + s + idle + io + irq + sirq + st))
}

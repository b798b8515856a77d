# perf/lib.sh — helpers shared by the perf/run*.sh benchmark scripts.
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

# stop_bg PID: stop a process start_bg started and drop it from BG_PIDS.
stop_bg() {
	stop_pid "$1"
	forget_pid "$1"
}

# stop_all: stop the running client and every start_bg process (cleanup's part).
stop_all() {
	local p
	[[ -n $CLIENT_PID ]] && stop_pid "$CLIENT_PID"
	for p in "${BG_PIDS[@]}"; do stop_pid "$p"; done
	BG_PIDS=()
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

# CPU ticks (user + system, every thread) the processes of process group $1
# have used so far: a system started by start_bg is the group of its timeout.
pgrp_ticks() {
	local f line sum=0
	local -a v
	for f in /proc/[0-9]*/stat; do
		read -r line 2>/dev/null <"$f" || continue
		# After "(comm) ": state ppid pgrp ... utime (12th) stime (13th).
		read -r -a v <<<"${line##*) }"
		((${v[2]:-0} == $1)) && sum=$((sum + v[11] + v[12]))
	done
	echo "$sum"
}

# ---- the round loop every benchmark script runs ----------------------------
# SYSTEMS, STATUS (empty: the system can run), RAW, T_START and MAX_SECONDS
# are the caller's.

# The systems that can run, into ACTIVE.
bench_active() {
	local s
	ACTIVE=()
	for s in "${SYSTEMS[@]}"; do [[ -n ${STATUS[$s]} ]] || ACTIVE+=("$s"); done
	((${#ACTIVE[@]})) || say "no system can run"
}

# bench_bg R FIELDS: background load (other jobs on the machine) over 1 s
# while nothing of ours runs, as a raw record of round R; FIELDS are the
# JSON members that mark it for the caller's report ('"s":"-","t":"bg"').
bench_bg() {
	local t0 b0 t1 b1
	t0=$(cpu_total) b0=$(cpu_busy)
	sleep 1
	t1=$(cpu_total) b1=$(cpu_busy)
	printf '{"r":%d,%s,"ok":true,"v":{"busy_pct":%s}}\n' "$1" "$2" \
		"$(((b1 - b0) * 1000 / (t1 - t0 > 0 ? t1 - t0 : 1) / 10))" >>"$RAW"
}

# bench_order R: ACTIVE rotated by R (drift hits every system alike), into
# ORDER; appended to ORDERS for the report.
bench_order() {
	local n=${#ACTIVE[@]} i
	ORDER=()
	for ((i = 0; i < n; i++)); do ORDER+=("${ACTIVE[$(((i + $1) % n))]}"); done
	ORDERS+=("${ORDER[*]}")
}

# bench_over_budget R: true, with BUDGET_NOTE set and said, once the run has
# taken longer than BENCH_MAX_SECONDS (checked before each slot of round R).
bench_over_budget() {
	((SECONDS - T_START > MAX_SECONDS)) || return 1
	BUDGET_NOTE="time budget BENCH_MAX_SECONDS=$MAX_SECONDS exceeded in round $(($1 + 1)); later slots not run"
	say "$BUDGET_NOTE"
}

# bench_report SCRIPT [ARG...]: run the report, perf/SCRIPT ARG... RAW OUT,
# with the run description every report reads (M_START, M_DUR, M_CMD,
# M_QUICK, M_ROUNDS, M_SYSTEMS, M_VERSIONS, M_STATUS, M_ORDERS, M_NOTES)
# exported; the caller exports its own settings (M_BYTES, ...) before. The
# machine facts come from report_common.machine(). Dies when the report fails.
bench_report() {
	local s notes=
	[[ -n ${BUDGET_NOTE:-} ]] && notes+="$BUDGET_NOTE"$'\n'
	if declare -p FAILS &>/dev/null; then
		for s in "${!FAILS[@]}"; do notes+="$s failed to start in ${FAILS[$s]} of $ROUNDS round(s)"$'\n'; done
	fi
	M_START=$START_ISO M_DUR=$((SECONDS - T_START)) M_CMD=$CMDLINE M_QUICK=$QUICK
	M_ROUNDS=$ROUNDS M_SYSTEMS="${SYSTEMS[*]}" M_VERSIONS=$(kv VERSION) M_STATUS=$(kv STATUS)
	M_ORDERS=$(printf '%s\n' "${ORDERS[@]}") M_NOTES=$notes
	export M_START M_DUR M_CMD M_QUICK M_ROUNDS M_SYSTEMS M_VERSIONS M_STATUS M_ORDERS M_NOTES
	mkdir -p "$(dirname "$OUT")"
	# shellcheck disable=SC2034 # KEEP is read by the caller's cleanup
	"$PY" "perf/$1" "${@:2}" "$RAW" "$OUT" || { KEEP=1; die "report failed (raw data kept: $RAW)"; }
	say "done in $((SECONDS - T_START)) s"
}

# The exact command of this run, with the settings that came from the
# environment: bench_cmdline perf/run.sh "$@"
bench_cmdline() {
	local script=$1
	shift
	env | grep -E '^(BENCH_[A-Z_]+|KFWD)=' | sort | tr '\n' ' '
	printf 'bash %s' "$script"
	(($# == 0)) || printf ' %q' "$@"
}

# Load generators, compiled here and never by the Makefile: TOOLS=build/perf,
# and perf/NAME.c -> $TOOLS/NAME for each NAME when missing or older than its
# source or perf/common.h.
TOOLS=build/perf
bench_tools() {
	local t
	mkdir -p "$TOOLS"
	for t in "$@"; do
		if [[ ! -x $TOOLS/$t || perf/$t.c -nt $TOOLS/$t || perf/common.h -nt $TOOLS/$t ]]; then
			gcc -O2 -g -Wall -Wextra -Wshadow -Werror -o "$TOOLS/$t" "perf/$t.c" -lpthread ||
				die "compiling perf/$t.c failed"
		fi
	done
}

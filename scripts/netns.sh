# shellcheck shell=bash
# scripts/netns.sh — small helpers for throwaway network-namespace topologies.
# Source it (bash); it defines functions only and changes no shell options.
#
#   netns_add NS                       create NS (replacing a stale one), lo up
#   netns_del NS                       end NS's processes, delete NS (no-op if absent)
#   netns_veth NSA IFA CIDRA NSB IFB CIDRB
#                                      veth pair created directly inside NSA/NSB:
#                                      it never exists in the caller's namespace
#   netns_exec NS CMD...               run CMD inside NS
#   netns_wait_tcp NS HOST PORT [SECS] wait until HOST:PORT accepts, seen from NS
#   netns_stop_pid PID [SECS]          SIGTERM PID, wait, then SIGKILL if needed
#
# Nothing here touches an interface, route or sysctl of the initial namespace.

netns_exists() {
	ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"
}

netns_exec() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# netns_stop_pid PID [SECS]: TERM, give it SECS (default 3) to exit, then KILL.
netns_stop_pid() {
	local pid=$1 secs=${2:-3} i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# netns_del NS: every process still inside NS was started there by whoever
# built it; end them by pid (TERM, then KILL), then delete NS with its links.
netns_del() {
	local ns=$1 pid i
	netns_exists "$ns" || return 0
	local -a pids
	mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
	if ((${#pids[@]})); then
		kill -TERM "${pids[@]}" 2>/dev/null || true
		for ((i = 0; i < 60; i++)); do
			[[ -z $(ip netns pids "$ns" 2>/dev/null) ]] && break
			sleep 0.05
		done
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	fi
	ip netns del "$ns" 2>/dev/null || true
}

netns_add() {
	local ns=$1
	netns_del "$ns"
	ip netns add "$ns"
	ip -n "$ns" link set lo up
}

# netns_veth NSA IFA CIDRA NSB IFB CIDRB: e.g. netns_veth c eth0 10.0.0.2/24 g eth0 10.0.0.1/24
netns_veth() {
	local nsa=$1 ifa=$2 cidra=$3 nsb=$4 ifb=$5 cidrb=$6
	ip -n "$nsa" link add "$ifa" type veth peer name "$ifb" netns "$nsb"
	ip -n "$nsa" addr add "$cidra" dev "$ifa"
	ip -n "$nsb" addr add "$cidrb" dev "$ifb"
	ip -n "$nsa" link set "$ifa" up
	ip -n "$nsb" link set "$ifb" up
}

# netns_wait_tcp NS HOST PORT [SECS]: 0 once a TCP connect from NS succeeds.
netns_wait_tcp() {
	local ns=$1 host=$2 port=$3 secs=${4:-5} i
	for ((i = 0; i < secs * 20; i++)); do
		# shellcheck disable=SC2016 # $0/$1 expand in the inner shell
		if ip netns exec "$ns" timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" \
			2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

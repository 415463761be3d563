# hack/lib.sh: what hack/test and hack/run share - run as root, install the
# Debian packages gantry needs when missing, start dockerd when it is not
# running. Source it; it defines functions and runs nothing.

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# ensure_root re-executes the calling script with sudo when not root.
ensure_root() {
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			exec sudo -E env "PATH=$PATH" "$0" "$@"
		fi
		log "must run as root (it installs packages, starts dockerd and makes network namespaces)"
		exit 1
	fi
	export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
}

# ensure_packages installs what is missing: etcd-server, docker.io,
# iptables, iproute2, busybox-static, iperf3, curl, nftables, conntrack.
ensure_packages() {
	# command -> Debian package that provides it
	declare -A need=(
		[etcd]=etcd-server
		[dockerd]=docker.io
		[iptables]=iptables
		[ip]=iproute2
		[busybox]=busybox-static
		[iperf3]=iperf3
		[curl]=curl
		[nft]=nftables
		[conntrack]=conntrack
		[nsenter]=util-linux
	)
	local missing=() cmd
	for cmd in "${!need[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
	done
	if [ "${#missing[@]}" -gt 0 ]; then
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	# Debian's etcd-server package may start a system etcd on the default
	# ports; gantry starts its own on free ports and needs none.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
		systemctl stop etcd || true
	fi
	if ! command -v go >/dev/null 2>&1; then
		log "go is not on PATH (expected /usr/local/go/bin/go)"
		exit 1
	fi
}

# ensure_docker starts dockerd when no daemon answers, and waits for it.
ensure_docker() {
	docker info >/dev/null 2>&1 && return 0
	log "starting dockerd (log: /var/log/gantry-dockerd.log)"
	rm -f /var/run/docker.pid
	nohup dockerd >/var/log/gantry-dockerd.log 2>&1 &
	local i
	for i in $(seq 1 60); do
		docker info >/dev/null 2>&1 && return 0
		sleep 1
	done
	log "dockerd did not come up; last lines of its log:"
	tail -n 20 /var/log/gantry-dockerd.log >&2 || true
	exit 1
}

#!/usr/bin/env bash
# Record examples/sample.pcap from real traffic between two network namespaces.
#
#   sudo ./scripts/record_sample.sh [OUTPUT]     (default: examples/sample.pcap)
#
# Builds namespaces td-srv (10.99.0.1/24) and td-cli (10.99.0.2/24) joined by a
# veth pair, runs real servers in td-srv (python3 -m http.server on port 80,
# dnsmasq on port 53, pyftpdlib on port 21), runs real clients in td-cli (ping,
# dig, curl over HTTP and FTP, a TCP connect to a closed port, a UDP datagram to
# a closed port) and captures on the client's veth with tcpdump.
# Traffic stays inside the two namespaces; both are removed on exit.
# Needs root (ip netns). Installs what it needs from Debian if missing.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath -m "${1:-$REPO/examples/sample.pcap}")"
PYTHON="${PYTHON:-python3}"
SRV_NS=td-srv
CLI_NS=td-cli
SRV_IF=veth-srv
CLI_IF=veth-cli
SRV_IP=10.99.0.1
CLI_IP=10.99.0.2

say() { printf 'record: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env=PYTHON "$0" "$@"
fi

# -- tools ---------------------------------------------------------------------
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v curl >/dev/null || need+=(curl)
command -v dig >/dev/null || need+=(bind9-dnsutils)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)   # the binary, without a system service
command -v ethtool >/dev/null || need+=(ethtool)
command -v ping >/dev/null || need+=(iputils-ping)
if [ "${#need[@]}" -gt 0 ]; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

WORK="$(mktemp -d /tmp/tracedoc-record.XXXXXX)"
PIDS=()   # background processes; started with `ip netns exec` (which execs), so $! is the process
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    # Anything still running inside our namespaces was started by this script.
    for ns in "$CLI_NS" "$SRV_NS"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    done
    ip netns del "$CLI_NS" 2>/dev/null
    ip netns del "$SRV_NS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# pyftpdlib for the FTP server, in a throwaway venv (not the project's Python).
say "installing pyftpdlib into a temporary venv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --disable-pip-version-check pyftpdlib

# -- namespaces ------------------------------------------------------------------
for ns in "$SRV_NS" "$CLI_NS"; do
    if ip netns list | grep -qw "$ns"; then
        say "namespace $ns exists (left over?); removing it"
        ip netns del "$ns"
    fi
done
ip netns add "$SRV_NS"
ip netns add "$CLI_NS"
srv() { ip netns exec "$SRV_NS" "$@"; }
cli() { ip netns exec "$CLI_NS" "$@"; }
for ns in "$SRV_NS" "$CLI_NS"; do
    # IPv4 only: no IPv6 link-local chatter (router solicitations, MLD) in the trace.
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$ns" ip link set lo up
done
ip link add "$SRV_IF" netns "$SRV_NS" type veth peer name "$CLI_IF" netns "$CLI_NS"
srv ip addr add "$SRV_IP/24" dev "$SRV_IF"
cli ip addr add "$CLI_IP/24" dev "$CLI_IF"
# Real on-the-wire segments: no TSO/GSO super-packets, real checksums.
srv ethtool -K "$SRV_IF" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
cli ethtool -K "$CLI_IF" tx off rx off tso off gso off gro off >/dev/null 2>&1 || true
srv ip link set "$SRV_IF" up
cli ip link set "$CLI_IF" up

# -- servers (in td-srv) -----------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/ftp"
cat > "$WORK/www/index.html" <<'HTML'
<!doctype html>
<title>tracedoc sample</title>
<p>Hello from the tracedoc sample trace.</p>
HTML
# A few KB so the response spans several segments.
"$PYTHON" -c 'import sys; sys.stdout.write("".join(f"line {i:04d} of the tracedoc sample file\n" for i in range(120)))' \
    > "$WORK/www/notes.txt"
cp "$WORK/www/notes.txt" "$WORK/ftp/notes.txt"

ip netns exec "$SRV_NS" "$PYTHON" -m http.server 80 --bind "$SRV_IP" --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
PIDS+=($!)
ip netns exec "$SRV_NS" dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --pid-file= \
    --user=root --group=root --bind-interfaces --listen-address="$SRV_IP" --port=53 \
    --local=/sample.test/ --host-record=www.sample.test,"$SRV_IP" >"$WORK/dns.log" 2>&1 &
PIDS+=($!)
ip netns exec "$SRV_NS" "$WORK/venv/bin/python" - "$SRV_IP" "$WORK/ftp" >"$WORK/ftp.log" 2>&1 <<'PY' &
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

ip, root = sys.argv[1], sys.argv[2]
auth = DummyAuthorizer()
auth.add_anonymous(root)
FTPHandler.authorizer = auth
FTPHandler.passive_ports = range(60000, 60010)
FTPServer((ip, 21), FTPHandler).serve_forever()
PY
PIDS+=($!)

wait_port() {  # wait_port PROTO PORT: until something listens in td-srv
    for _ in $(seq 1 100); do
        if srv ss -Hln"${1:0:1}" "sport = :$2" | grep -q .; then return 0; fi
        sleep 0.1
    done
    say "nothing listening on $1 port $2"; cat "$WORK"/*.log >&2; exit 1
}
wait_port tcp 80
wait_port udp 53
wait_port tcp 21

# -- capture (in td-cli) -----------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
rm -f "$WORK/capture.pcap"
ip netns exec "$CLI_NS" tcpdump -i "$CLI_IF" -n -U -s 262144 -w "$WORK/capture.pcap" >"$WORK/tcpdump.log" 2>&1 &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
for _ in $(seq 1 100); do
    grep -q "listening on" "$WORK/tcpdump.log" && break
    sleep 0.1
done
grep -q "listening on" "$WORK/tcpdump.log" || { cat "$WORK/tcpdump.log" >&2; exit 1; }
sleep 0.5

# -- clients (in td-cli) -------------------------------------------------------------
step() { say "$*"; sleep 0.3; }
step "ping"
cli ping -c 3 -i 0.2 -W 1 "$SRV_IP" >/dev/null
step "dns: www.sample.test (answer) and missing.sample.test (NXDOMAIN)"
cli dig +short +tries=1 +time=2 @"$SRV_IP" www.sample.test A
cli dig +tries=1 +time=2 @"$SRV_IP" missing.sample.test A | grep -o 'status: [A-Z]*'
step "http: GET / , GET /notes.txt, GET /missing (404)"
cli curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' "http://$SRV_IP/"
cli curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' "http://$SRV_IP/notes.txt"
cli curl -sS -o /dev/null -w '%{http_code} %{size_download}\n' "http://$SRV_IP/missing"
step "ftp: anonymous login, passive RETR notes.txt"
cli curl -sS -o /dev/null -w '%{size_download}\n' "ftp://$SRV_IP/notes.txt"
step "tcp to a closed port (RST)"
cli curl -sS --max-time 2 "http://$SRV_IP:8081/" 2>&1 || true
step "udp to a closed port (ICMP port unreachable)"
cli "$PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], 9999))
s.send(b"hello, is anyone there?\n")
try:
    s.recv(100)
except OSError as e:
    print(type(e).__name__)
' "$SRV_IP"
sleep 1

kill -TERM "$TCPDUMP"   # tcpdump flushes and closes the file
wait "$TCPDUMP" || true
cat "$WORK/tcpdump.log" >&2
cp "$WORK/capture.pcap" "$OUT"
chmod 644 "$OUT"
say "wrote $OUT ($(stat -c %s "$OUT") bytes)"

#!/bin/bash
# The curl row of the layer's runtime matrix: every cell is one curl run
# (file:// for files, tftp:// for a UDP datagram, -w for the address curl
# connected to). One "CELL <name> OK|ERR ..." line per cell.
cell() {
	local name=$1 out rc
	shift
	out=$(curl -sS --max-time 10 "$@" 2>&1)
	rc=$?
	out=${out//$'\n'/\\n}
	out=${out//$'\r'/}
	if [ $rc -eq 0 ]; then echo "CELL $name OK $out"; else echo "CELL $name ERR $out"; fi
}
for c in "$@"; do
	case $c in
	read) cell read file:///app/test.txt ;;
	stat) cell stat -I file:///app/test.txt ;;
	kube) cell kube "file://$HOME/.kube/config" ;;
	http) cell http http://internal-only.mirrord-e2e.svc/ ;;
	# A TFTP read request is one datagram carrying the file name; curl then
	# waits for an answer the logger never sends, so only the send counts.
	udp) curl -s --max-time 2 "tftp://udp-logger.mirrord-e2e.svc:31415/$PROBE_TOKEN" >/dev/null 2>&1; echo "CELL udp OK sent" ;;
	resolve-web) cell resolve-web -o /dev/null -w '%{remote_ip}' http://web/ ;;
	resolve-k8s) cell resolve-k8s -k -o /dev/null -w '%{remote_ip}' https://kubernetes.default.svc/ ;;
	peer) cell peer -o /dev/null -w '%{remote_ip}:%{remote_port}' http://internal-only.mirrord-e2e.svc/ ;;
	*) echo "CELL $c ERR unknown cell" ;;
	esac
done

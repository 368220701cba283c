#!/bin/bash
# The "bash -c spawning cat and python3" row of the layer's runtime matrix:
# files through cat/ls/stat children, the network through a python3 child
# (PROBE_PY is the Python row's probe). One "CELL <name> OK|ERR ..." line
# per cell named on the command line.
cell() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	out=${out//$'\n'/\\n}
	if [ $rc -eq 0 ]; then echo "CELL $name OK $out"; else echo "CELL $name ERR $out"; fi
}
for c in "$@"; do
	case $c in
	read) cell read cat /app/test.txt ;;
	list) cell list bash -c 'ls /app | sort | paste -sd,' ;;
	stat) cell stat stat -c %s /app/test.txt ;;
	kube) cell kube cat "$HOME/.kube/config" ;;
	hostname) cell hostname uname -n ;;
	*) "${PROBE_PYTHON:-python3}" "$PROBE_PY" "$c" ;;
	esac
done

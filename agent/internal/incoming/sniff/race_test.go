//go:build linux && race

package sniff

// The race detector slows everything several times over: throughput
// figures taken under it mean nothing, so TestThroughputFigures only
// checks that its path works.
func init() { raceEnabled = true }

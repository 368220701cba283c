// Command apigen writes the daemon API's TypeScript and Kotlin client
// types (see package apigen); -check compares instead of writing and fails
// when a file is stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mirrord-go/mirrord/daemon/internal/apigen"
)

func main() {
	ts := flag.String("ts", "extensions/vscode/src/gen/daemonApi.ts", "TypeScript output")
	kt := flag.String("kt", "extensions/jetbrains/core/src/main/kotlin/dev/mirrordgo/gen/DaemonApi.kt", "Kotlin output")
	check := flag.Bool("check", false, "fail when an output is stale instead of writing it")
	flag.Parse()
	if err := apigen.Write(map[string][]byte{*ts: apigen.TypeScript(), *kt: apigen.Kotlin()}, *check); err != nil {
		fmt.Fprintln(os.Stderr, "apigen:", err)
		os.Exit(1)
	}
}

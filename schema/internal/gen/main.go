// Command gen writes schema/mirrord-schema.json from the config types and
// their doc comments (`make schema`; CI fails when the file is stale).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mirrord-go/mirrord/schema"
	"github.com/mirrord-go/mirrord/schema/internal/gen/docs"
)

func main() {
	out := flag.String("o", "schema/mirrord-schema.json", "output file")
	src := flag.String("src", "schema", "directory of the schema package source")
	flag.Parse()
	if err := run(*out, *src); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out, src string) error {
	d, err := docs.Read(src)
	if err != nil {
		return err
	}
	b, err := schema.GenerateJSONSchema(d)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

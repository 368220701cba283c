package apigen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Write writes each file, or with check reports the stale ones.
func Write(files map[string][]byte, check bool) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if check {
			have, err := os.ReadFile(n)
			if err != nil || !bytes.Equal(have, files[n]) {
				return fmt.Errorf("%s is stale: run 'make gen' and commit it", n)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(n), 0o755); err != nil {
			return fmt.Errorf("creating the folder of %s: %w", n, err)
		}
		if err := os.WriteFile(n, files[n], 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", n, err)
		}
	}
	return nil
}

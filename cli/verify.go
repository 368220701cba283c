package cli

import (
	"encoding/json"

	"github.com/mirrord-go/mirrord/schema"
	"github.com/spf13/cobra"
)

func newSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of the config file",
		Long: `Print the JSON Schema (draft 2020-12) of mirrord's config file. Point your
editor at it for validation, completion and documentation on hover.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(schema.JSONSchema)
			return err
		},
	}
}

// verifyOutput is upstream's verify-config JSON shape.
type verifyOutput struct {
	Type                  string          `json:"type"`
	Config                *verifiedTarget `json:"config,omitempty"`
	Warnings              *[]string       `json:"warnings,omitempty"`
	CompatibleTargetTypes []string        `json:"compatible_target_types,omitempty"`
	ResolvedConfig        *schema.Config  `json:"resolved_config,omitempty"`
	Errors                []string        `json:"errors,omitempty"`
}

type verifiedTarget struct {
	Path      *schema.TargetPath `json:"path"`
	Namespace *string            `json:"namespace"`
}

func newVerifyConfigCmd() *cobra.Command {
	var ide, resolved bool
	cmd := &cobra.Command{
		Use:   "verify-config [--ide] [--resolved] <path>",
		Short: "Check a config file and print the result as JSON",
		Long: `Check a config file (JSON, TOML or YAML, after templating and with MIRRORD_*
environment overrides applied) and print one JSON document:

  {"type":"Success","config":{"path":...,"namespace":...},"warnings":[...],
   "compatible_target_types":[...]}
  {"type":"Fail","errors":["file:line:col: key.path: what is wrong"]}

The exit code is 0 whenever a result was printed. With --ide, a missing target
is not an error, because the IDE will ask for one. Use "-" to read stdin.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res := schema.Load(args[0], schema.Options{IDE: ide, Stdin: cmd.InOrStdin(), SchemaCheck: true})
			out := verifyResult(res, resolved)
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	}
	cmd.Flags().BoolVar(&ide, "ide", false, "the target is not final: a missing target is not an error")
	cmd.Flags().BoolVar(&resolved, "resolved", false, "include the resolved config in the output")
	cmd.Annotations = map[string]string{"ide": "true"}
	return cmd
}

func verifyResult(res *schema.Result, withResolved bool) verifyOutput {
	if len(res.Errors) > 0 {
		out := verifyOutput{Type: "Fail"}
		for _, e := range res.Errors {
			out.Errors = append(out.Errors, e.String())
		}
		return out
	}
	c := res.Config
	out := verifyOutput{
		Type:                  "Success",
		Config:                &verifiedTarget{Path: c.Target.Path},
		Warnings:              &[]string{},
		CompatibleTargetTypes: compatibleTargetTypes(c),
	}
	if c.Target.Namespace != "" {
		ns := c.Target.Namespace
		out.Config.Namespace = &ns
	}
	for _, w := range res.Warnings {
		*out.Warnings = append(*out.Warnings, w.String())
	}
	if withResolved {
		out.ResolvedConfig = c
	}
	return out
}

// compatibleTargetTypes follows upstream: copy_target rules out targetless,
// rollout and service, and scale_down rules out pod too.
func compatibleTargetTypes(c *schema.Config) []string {
	var out []string
	for _, k := range schema.TargetKinds {
		if c.Feature.CopyTarget.Enabled {
			if k == schema.KindTargetless || k == schema.KindRollout || k == schema.KindService {
				continue
			}
			if c.Feature.CopyTarget.ScaleDown && k == schema.KindPod {
				continue
			}
		}
		out = append(out, k)
	}
	return out
}

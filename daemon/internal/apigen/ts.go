package apigen

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/mirrord-go/mirrord/daemon/api"
)

var rawMessage = reflect.TypeFor[json.RawMessage]()

func tsType(t reflect.Type) string {
	if t == rawMessage {
		return "unknown"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return tsType(t.Elem()) + " | null"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return tsType(t.Elem()) + "[]"
	case reflect.Map:
		return "Record<string, " + tsType(t.Elem()) + ">"
	case reflect.Struct:
		if t == reflect.TypeFor[api.Empty]() {
			return "Empty"
		}
		return t.Name()
	case reflect.Interface:
		return "unknown"
	}
	return "unknown"
}

// TypeScript renders the TypeScript module.
func TypeScript() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s\n\n", header)
	fmt.Fprintf(&b, "/** The daemon protocol version these types describe. */\nexport const PROTOCOL_VERSION = %d;\n\n", api.ProtocolVersion)
	b.WriteString("/** Requests, by name. */\nexport const Methods = {\n")
	for _, m := range api.All {
		if !m.Notify {
			fmt.Fprintf(&b, "  /** %s */\n  %s: %q,\n", m.Doc, constName(m.Name), m.Name)
		}
	}
	b.WriteString("} as const;\n\n/** Notifications, by name. */\nexport const Notifications = {\n")
	for _, m := range api.All {
		if m.Notify {
			fmt.Fprintf(&b, "  /** %s (%s) */\n  %s: %q,\n", m.Doc, m.Dir, constName(m.Name), m.Name)
		}
	}
	b.WriteString("} as const;\n\n/** LSP document methods the daemon forwards to its config language server. */\nexport const LspMethods = {\n")
	for _, m := range lspMethods {
		fmt.Fprintf(&b, "  %s: %q,\n", constName(m), m)
	}
	b.WriteString("} as const;\n\n/** JSON-RPC error codes; the mirrord categories are user, config, cluster, network, internal. */\nexport const ErrorCodes = {\n")
	for _, c := range errorCodes() {
		fmt.Fprintf(&b, "  %s: %s,\n", c[0], c[1])
	}
	b.WriteString("} as const;\n\n/** Params and result of each request. */\nexport interface MethodTypes {\n")
	for _, m := range api.All {
		if !m.Notify {
			fmt.Fprintf(&b, "  %q: { params: %s; result: %s };\n", m.Name, tsType(m.Params), tsType(m.Result))
		}
	}
	b.WriteString("}\n\n/** Params of each notification. */\nexport interface NotificationTypes {\n")
	for _, m := range api.All {
		if m.Notify {
			fmt.Fprintf(&b, "  %q: %s;\n", m.Name, tsType(m.Params))
		}
	}
	b.WriteString("}\n\n/** The params or result of a message that carries nothing. */\nexport type Empty = Record<string, never>;\n")
	for _, t := range structs() {
		if t == reflect.TypeFor[api.Empty]() {
			continue
		}
		fmt.Fprintf(&b, "\nexport interface %s {\n", t.Name())
		for _, f := range fields(t) {
			typ := f.ts
			if typ == "" {
				typ = tsType(f.t)
			}
			opt := ""
			if f.optional {
				opt = "?"
			}
			fmt.Fprintf(&b, "  %s%s: %s;\n", f.name, opt, typ)
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

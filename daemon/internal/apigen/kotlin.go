package apigen

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/mirrord-go/mirrord/daemon/api"
)

func ktType(t reflect.Type) string {
	if t == rawMessage {
		return "Any?"
	}
	switch t.Kind() {
	case reflect.String:
		return "String"
	case reflect.Bool:
		return "Boolean"
	case reflect.Int, reflect.Int32, reflect.Uint, reflect.Uint32:
		return "Int"
	case reflect.Int64, reflect.Uint64:
		return "Long"
	case reflect.Float32, reflect.Float64:
		return "Double"
	case reflect.Slice:
		return "List<" + ktType(t.Elem()) + ">"
	case reflect.Map:
		return "Map<String, " + ktType(t.Elem()) + ">"
	case reflect.Struct:
		return t.Name()
	case reflect.Pointer:
		return ktType(t.Elem())
	}
	return "Any?"
}

// ktDefault gives every field a default, so that Kotlin generates a
// no-argument constructor and Gson keeps the defaults of absent fields
// instead of leaving non-null fields null.
func ktDefault(typ string, optional bool) string {
	if optional || strings.HasSuffix(typ, "?") {
		return "null"
	}
	switch {
	case typ == "String":
		return `""`
	case typ == "Boolean":
		return "false"
	case typ == "Int":
		return "0"
	case typ == "Long":
		return "0L"
	case typ == "Double":
		return "0.0"
	case strings.HasPrefix(typ, "List<"):
		return "emptyList()"
	case strings.HasPrefix(typ, "Map<"):
		return "emptyMap()"
	}
	return typ + "()"
}

// Kotlin renders the Kotlin file (package dev.mirrordgo.gen).
func Kotlin() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s\n\npackage dev.mirrordgo.gen\n\n", header)
	fmt.Fprintf(&b, "/** The daemon protocol version these types describe. */\nconst val PROTOCOL_VERSION: Int = %d\n\n", api.ProtocolVersion)
	b.WriteString("/** Requests, by name. */\nobject DaemonMethods {\n")
	for _, m := range api.All {
		if !m.Notify {
			fmt.Fprintf(&b, "    /** %s */\n    const val %s: String = %q\n", m.Doc, upperSnake(m.Name), m.Name)
		}
	}
	b.WriteString("}\n\n/** Notifications, by name. */\nobject DaemonNotifications {\n")
	for _, m := range api.All {
		if m.Notify {
			fmt.Fprintf(&b, "    /** %s (%s) */\n    const val %s: String = %s\n", m.Doc, m.Dir, upperSnake(m.Name), strings.ReplaceAll(strconv.Quote(m.Name), "$", `\$`))
		}
	}
	b.WriteString("}\n\n/** LSP document methods the daemon forwards to its config language server. */\nobject LspMethods {\n")
	for _, m := range lspMethods {
		fmt.Fprintf(&b, "    const val %s: String = %q\n", upperSnake(m), m)
	}
	b.WriteString("}\n\n/** JSON-RPC error codes; the mirrord categories are user, config, cluster, network, internal. */\nobject ErrorCodes {\n")
	for _, c := range errorCodes() {
		fmt.Fprintf(&b, "    const val %s: Int = %s\n", upperSnake(c[0]), c[1])
	}
	b.WriteString("}\n")
	for _, t := range structs() {
		if t == reflect.TypeFor[api.Empty]() {
			b.WriteString("\n/** The params or result of a message that carries nothing. */\nclass Empty\n")
			continue
		}
		fs := fields(t)
		fmt.Fprintf(&b, "\ndata class %s(\n", t.Name())
		for _, f := range fs {
			typ := f.kt
			if typ == "" {
				typ = ktType(f.t)
			}
			nullable := typ
			if f.optional && !strings.HasSuffix(typ, "?") {
				nullable += "?"
			}
			fmt.Fprintf(&b, "    val %s: %s = %s,\n", f.name, nullable, ktDefault(typ, f.optional))
		}
		b.WriteString(")\n")
	}
	return []byte(b.String())
}

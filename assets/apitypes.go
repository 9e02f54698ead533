package assets

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// APITypes writes the TypeScript types of the schemas of an OpenAPI 3.1
// document (server/openapi.json): the console's API types are generated from
// the document the server's tests check every answer against, never copied
// by hand. A property is optional where the schema does not require it.
// With roots, only those schemas and the ones they refer to are written (the
// widget's protocol types, without the console's API).
func APITypes(openapi []byte, roots ...string) (string, error) {
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return "", fmt.Errorf("api types: %w", err)
	}
	var b strings.Builder
	b.WriteString("// Generated from server/openapi.json by assets.APITypes: do not edit.\n")
	b.WriteString("// TestAPITypes (console) or TestProtocolTypes (widget) writes it again with -update.\n")
	names := make([]string, 0, len(doc.Components.Schemas))
	for n := range doc.Components.Schemas {
		names = append(names, n)
	}
	if len(roots) > 0 {
		var err error
		if names, err = reachable(doc.Components.Schemas, roots); err != nil {
			return "", fmt.Errorf("api types: %w", err)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		var s schema
		if err := json.Unmarshal(doc.Components.Schemas[n], &s); err != nil {
			return "", fmt.Errorf("api types: schema %s: %w", n, err)
		}
		b.WriteString("\n")
		comment(&b, "", s.Description)
		if len(s.Properties) > 0 && len(s.AllOf) == 0 {
			fmt.Fprintf(&b, "export interface %s %s\n", n, s.object(""))
		} else {
			fmt.Fprintf(&b, "export type %s = %s;\n", n, s.ts(""))
		}
	}
	return b.String(), nil
}

var schemaRef = regexp.MustCompile(`"#/components/schemas/([^"]+)"`)

// reachable lists the schemas roots name and those they refer to.
func reachable(schemas map[string]json.RawMessage, roots []string) ([]string, error) {
	seen := map[string]bool{}
	todo := slices.Clone(roots)
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[n] {
			continue
		}
		raw, ok := schemas[n]
		if !ok {
			return nil, fmt.Errorf("no schema %s", n)
		}
		seen[n] = true
		for _, m := range schemaRef.FindAllSubmatch(raw, -1) {
			todo = append(todo, string(m[1]))
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	return out, nil
}

// schema is the part of JSON Schema the document uses.
type schema struct {
	Ref                  string          `json:"$ref"`
	Type                 json.RawMessage `json:"type"`
	Enum                 []any           `json:"enum"`
	Properties           orderedProps    `json:"properties"`
	Required             []string        `json:"required"`
	Items                *schema         `json:"items"`
	AdditionalProperties json.RawMessage `json:"additionalProperties"`
	OneOf                []*schema       `json:"oneOf"`
	AnyOf                []*schema       `json:"anyOf"`
	AllOf                []*schema       `json:"allOf"`
	Description          string          `json:"description"`
}

// orderedProps keeps the document's order of properties.
type orderedProps []prop

type prop struct {
	name string
	s    *schema
}

func (o *orderedProps) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if _, err := dec.Token(); err != nil {
		return err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		var s schema
		if err := dec.Decode(&s); err != nil {
			return err
		}
		*o = append(*o, prop{t.(string), &s})
	}
	return nil
}

func (s *schema) types() []string {
	var one string
	if json.Unmarshal(s.Type, &one) == nil && one != "" {
		return []string{one}
	}
	var many []string
	json.Unmarshal(s.Type, &many)
	return many
}

func (s *schema) ts(indent string) string {
	switch {
	case s.Ref != "":
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	case len(s.Enum) > 0:
		var lits []string
		for _, v := range s.Enum {
			j, _ := json.Marshal(v)
			lits = append(lits, string(j))
		}
		return strings.Join(lits, " | ")
	case len(s.OneOf) > 0 || len(s.AnyOf) > 0:
		var parts []string
		for _, x := range append(s.OneOf, s.AnyOf...) {
			parts = append(parts, x.ts(indent))
		}
		return strings.Join(parts, " | ")
	case len(s.AllOf) > 0:
		var parts []string
		for _, x := range s.AllOf {
			parts = append(parts, x.ts(indent))
		}
		return strings.Join(parts, " & ")
	}
	types := s.types()
	if len(types) == 0 {
		if len(s.Properties) > 0 {
			return s.object(indent)
		}
		return "unknown"
	}
	var parts []string
	for _, t := range types {
		switch t {
		case "string":
			parts = append(parts, "string")
		case "integer", "number":
			parts = append(parts, "number")
		case "boolean":
			parts = append(parts, "boolean")
		case "null":
			parts = append(parts, "null")
		case "array":
			item := "unknown"
			if s.Items != nil {
				item = s.Items.ts(indent)
			}
			if strings.ContainsAny(item, " |&") && !strings.HasPrefix(item, "{") {
				item = "(" + item + ")"
			}
			parts = append(parts, item+"[]")
		case "object":
			parts = append(parts, s.objectOrMap(indent))
		default:
			parts = append(parts, "unknown")
		}
	}
	return strings.Join(parts, " | ")
}

func (s *schema) objectOrMap(indent string) string {
	if len(s.Properties) > 0 {
		return s.object(indent)
	}
	var extra schema
	if len(s.AdditionalProperties) > 0 && json.Unmarshal(s.AdditionalProperties, &extra) == nil && (extra.Ref != "" || len(extra.types()) > 0 || len(extra.Enum) > 0) {
		return "Record<string, " + extra.ts(indent) + ">"
	}
	return "Record<string, unknown>"
}

func (s *schema) object(indent string) string {
	var b strings.Builder
	b.WriteString("{\n")
	inner := indent + "  "
	for _, p := range s.Properties {
		comment(&b, inner, p.s.Description)
		opt := "?"
		if slices.Contains(s.Required, p.name) {
			opt = ""
		}
		fmt.Fprintf(&b, "%s%s%s: %s;\n", inner, p.name, opt, p.s.ts(inner))
	}
	b.WriteString(indent + "}")
	return b.String()
}

func comment(b *strings.Builder, indent, text string) {
	if text == "" {
		return
	}
	fmt.Fprintf(b, "%s/** %s */\n", indent, strings.ReplaceAll(strings.ReplaceAll(text, "*/", "* /"), "\n", " "))
}

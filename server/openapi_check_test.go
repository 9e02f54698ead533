package server

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The OpenAPI document is checked against what the server answers: every
// JSON answer of every API test is validated against the schema the document
// gives for its operation and status (errors against the one error shape).
// The console's types are generated from these schemas, so a schema that
// lies breaks the console; this is what keeps them honest.
var apiSpec struct {
	once     sync.Once
	err      error
	compiler *jsonschema.Compiler
	doc      map[string]any
	paths    []specPath
	mu       sync.Mutex
	schemas  map[string]*jsonschema.Schema
}

type specPath struct {
	template string
	re       *regexp.Regexp
	params   int
}

func loadSpec() error {
	apiSpec.once.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDoc))
		if err != nil {
			apiSpec.err = err
			return
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		if err := c.AddResource("https://nudge.invalid/openapi.json", doc); err != nil {
			apiSpec.err = err
			return
		}
		apiSpec.compiler, apiSpec.doc, apiSpec.schemas = c, doc.(map[string]any), map[string]*jsonschema.Schema{}
		for p := range apiSpec.doc["paths"].(map[string]any) {
			apiSpec.paths = append(apiSpec.paths, specPath{template: p, re: regexp.MustCompile(patternOf(p)), params: strings.Count(p, "{")})
		}
		// A literal segment wins over a parameter (/rules/preview before /rules/{ruleID}).
		sort.Slice(apiSpec.paths, func(i, j int) bool { return apiSpec.paths[i].params < apiSpec.paths[j].params })
	})
	return apiSpec.err
}

// patternOf turns /api/sites/{siteID} into ^/api/sites/[^/]+$.
func patternOf(template string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, seg := range strings.Split(template, "/")[1:] {
		b.WriteString("/")
		if strings.HasPrefix(seg, "{") {
			b.WriteString("[^/]+")
		} else {
			b.WriteString(regexp.QuoteMeta(seg))
		}
	}
	return b.String() + "$"
}

// pointerEscape escapes a JSON pointer token.
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func specSchema(ptr string) (*jsonschema.Schema, error) {
	apiSpec.mu.Lock()
	defer apiSpec.mu.Unlock()
	if s := apiSpec.schemas[ptr]; s != nil {
		return s, nil
	}
	s, err := apiSpec.compiler.Compile("https://nudge.invalid/openapi.json#" + ptr)
	if err != nil {
		return nil, err
	}
	apiSpec.schemas[ptr] = s
	return s, nil
}

// checkAgainstSpec returns what is wrong with an API answer according to the
// OpenAPI document, or "".
func checkAgainstSpec(method, path string, status int, contentType string, body []byte) string {
	if !strings.HasPrefix(path, "/api/") || path == "/api/openapi.json" || !strings.HasPrefix(contentType, "application/json") {
		return ""
	}
	if err := loadSpec(); err != nil {
		return "openapi.json: " + err.Error()
	}
	var op map[string]any
	var template string
	for _, p := range apiSpec.paths {
		if p.re.MatchString(path) {
			if o, ok := apiSpec.doc["paths"].(map[string]any)[p.template].(map[string]any)[strings.ToLower(method)].(map[string]any); ok {
				op, template = o, p.template
				break
			}
		}
	}
	if op == nil {
		return "" // TestOpenAPICoversRoutes reports undocumented routes
	}
	ptr := "/components/schemas/Error"
	if status < 400 {
		code := strconv.Itoa(status)
		resp, ok := op["responses"].(map[string]any)[code].(map[string]any)
		if !ok {
			return fmt.Sprintf("%s %s answered %d, which the document does not list", method, template, status)
		}
		if _, ok := resp["content"].(map[string]any)["application/json"]; !ok {
			return fmt.Sprintf("%s %s answered %d with JSON, which the document does not describe", method, template, status)
		}
		ptr = "/paths/" + pointerEscape(template) + "/" + strings.ToLower(method) + "/responses/" + code + "/content/application~1json/schema"
	}
	sch, err := specSchema(ptr)
	if err != nil {
		return fmt.Sprintf("%s %s: schema %s: %v", method, template, ptr, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Sprintf("%s %s answered %d with invalid JSON: %v", method, template, status, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Sprintf("%s %s answered %d contrary to openapi.json:\n%v\nbody: %.600s", method, template, status, err, body)
	}
	return ""
}

func checkResponseAgainstSpec(req *http.Request, res response) string {
	return checkAgainstSpec(req.Method, req.URL.Path, res.Status, res.Header.Get("Content-Type"), res.Body)
}

// checkFrame returns what is wrong with a chat frame according to the
// document's frame schemas (x-frames of /ws/visitor and /ws/agent), or "":
// the server's tests check every frame they send and receive, so the widget's
// and the console's protocol types, generated from the same schemas, hold.
// The frame is checked against the branch of the schema's oneOf for its type,
// which keeps the report short.
func checkFrame(schema string, frame []byte) string {
	if err := loadSpec(); err != nil {
		return "openapi.json: " + err.Error()
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(frame))
	if err != nil {
		return fmt.Sprintf("frame is not JSON: %v", err)
	}
	typ, _ := v.(map[string]any)["type"].(string)
	ptr := frameBranch(schema, typ)
	if ptr == "" {
		return fmt.Sprintf("%s in openapi.json has no frame of type %q: %.300s", schema, typ, frame)
	}
	sch, err := specSchema(ptr)
	if err != nil {
		return fmt.Sprintf("schema %s: %v", ptr, err)
	}
	if err := sch.Validate(v); err != nil {
		return fmt.Sprintf("%s frame contrary to %s in openapi.json:\n%v\nframe: %.600s", typ, schema, err, frame)
	}
	return ""
}

// frameBranch is the pointer to the branch of a frame schema's oneOf whose
// type enum holds typ, or "".
func frameBranch(schema, typ string) string {
	schemas := apiSpec.doc["components"].(map[string]any)["schemas"].(map[string]any)
	for n, b := range schemas[schema].(map[string]any)["oneOf"].([]any) {
		branch := b.(map[string]any)
		ptr := fmt.Sprintf("/components/schemas/%s/oneOf/%d", schema, n)
		if ref, ok := branch["$ref"].(string); ok {
			ptr = strings.TrimPrefix(ref, "#")
			branch = schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		}
		enum, _ := branch["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
		if slices.Contains(enum, any(typ)) {
			return ptr
		}
	}
	return ""
}

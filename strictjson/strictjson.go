// Package strictjson is the one policy for JSON that clients send: REST
// bodies and rules alike. A document is one JSON object in UTF-8, nothing
// after it, no name given twice, no NUL character and no lone surrogate in any
// name or string. Decoding into a Go value is case-sensitive and refuses
// unknown fields, so that a name the server ignores cannot hide another.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Error is a refused document: what is wrong, and where (a dotted path such
// as "config.skills" or "", the whole document). Unknown is set for a field
// the value does not have.
type Error struct {
	Field   string
	Message string
	Unknown bool
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Check reports the first way data breaks the policy, or nil.
func Check(data []byte) error {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return &Error{Message: "the body is empty"}
	}
	if trimmed[0] != '{' {
		return &Error{Message: "the body must be a JSON object"}
	}
	return CheckValue(data)
}

// CheckValue is Check for any JSON value, object or not (a parser that names
// a wrong shape in its own terms checks that itself).
func CheckValue(data []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return syntaxError(err, dec.StackPointer())
		}
		if tok.Kind() == '"' && strings.IndexByte(tok.String(), 0) >= 0 {
			return &Error{Field: field(dec.StackPointer()), Message: "NUL characters are not allowed"}
		}
	}
}

// Decode checks data and decodes it into v (a pointer to a struct).
func Decode(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	err := jsonv2.Unmarshal(data, v, jsonv2.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var se *jsonv2.SemanticError
	if errors.As(err, &se) {
		f := field(se.JSONPointer)
		if errors.Is(err, jsonv2.ErrUnknownName) {
			return &Error{Field: f, Message: "unknown field", Unknown: true}
		}
		if se.GoType != nil {
			return &Error{Field: f, Message: "must be " + kind(se.GoType)}
		}
		return &Error{Field: f, Message: "has a value of the wrong kind"}
	}
	return syntaxError(err, "")
}

func syntaxError(err error, at jsontext.Pointer) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Message: "the JSON ends too early"}
	}
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		at = se.JSONPointer
		switch {
		case errors.Is(err, jsontext.ErrDuplicateName):
			return &Error{Field: field(at), Message: "given twice"}
		case strings.Contains(se.Err.Error(), "surrogate"):
			return &Error{Field: field(at), Message: "a lone surrogate is not text"}
		case strings.Contains(se.Err.Error(), "UTF-8"):
			return &Error{Field: field(at), Message: "not valid UTF-8"}
		}
		return &Error{Field: field(at), Message: fmt.Sprintf("malformed JSON at byte %d", se.ByteOffset)}
	}
	return &Error{Field: field(at), Message: "malformed JSON"}
}

// field turns a JSON pointer (/config/skills/0) into a dotted path.
func field(p jsontext.Pointer) string {
	var parts []string
	for tok := range p.Tokens() {
		parts = append(parts, tok)
	}
	return strings.Join(parts, ".")
}

// kind names a Go type as a JSON value, for people.
func kind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

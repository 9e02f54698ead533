package strictjson

import (
	"errors"
	"testing"
)

type login struct {
	Email    string   `json:"email"`
	Password string   `json:"password"`
	Tags     []string `json:"tags"`
	Limit    *int     `json:"limit"`
}

func TestDecodeRefusesWhatThePolicyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body, field, message string
	}{
		{"null", `null`, "", "the body must be a JSON object"},
		{"a list", `[{"email":"a"}]`, "", "the body must be a JSON object"},
		{"a string", `"owner@shop.test"`, "", "the body must be a JSON object"},
		{"empty", ` `, "", "the body is empty"},
		{"a name twice", `{"email":"x","email":"owner@shop.test"}`, "email", "given twice"},
		{"a name in other case", `{"email":"x","EMAIL":"owner@shop.test"}`, "EMAIL", "unknown field"},
		{"an unknown name", `{"is_admin":true}`, "is_admin", "unknown field"},
		{"NUL in a value", `{"email":"a\u0000b"}`, "email", "NUL characters are not allowed"},
		{"NUL in a list", `{"tags":["ok","\u0000"]}`, "tags.1", "NUL characters are not allowed"},
		{"a lone surrogate", `{"email":"\ud800"}`, "email", "a lone surrogate is not text"},
		{"a low surrogate alone", `{"email":"\udc00x"}`, "email", "a lone surrogate is not text"},
		{"trailing data", `{} {}`, "", "malformed JSON at byte 3"},
		{"cut short", `{"email":`, "", "the JSON ends too early"},
		{"wrong type", `{"limit":"ten"}`, "limit", "must be a whole number"},
		{"wrong type in a list", `{"tags":[1]}`, "tags.0", "must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v login
			err := Decode([]byte(tc.body), &v)
			var je *Error
			if !errors.As(err, &je) {
				t.Fatalf("%s: %v; want a policy error", tc.body, err)
			}
			if je.Field != tc.field || je.Message != tc.message {
				t.Fatalf("%s: field %q message %q; want %q %q", tc.body, je.Field, je.Message, tc.field, tc.message)
			}
		})
	}
}

func TestDecodeTakesGoodDocuments(t *testing.T) {
	var v login
	if err := Decode([]byte(` {"email":"émile 😀","password":"p","tags":["a"],"limit":null} `), &v); err != nil {
		t.Fatal(err)
	}
	if v.Email != "émile 😀" || v.Password != "p" || len(v.Tags) != 1 || v.Limit != nil {
		t.Fatalf("%+v", v)
	}
	if err := CheckValue([]byte(`[1, "two", {"three": null}]`)); err != nil {
		t.Fatalf("any value: %v", err)
	}
}

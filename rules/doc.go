// Package rules is what marketers write to decide when a visitor gets an offer:
// the rule schema (a condition tree of all/any/not over {fact, op, value}, and
// actions with priority, frequency caps, schedule and control-group split), its
// validation with errors that point at the bad node, and its evaluation in Go.
// rules/testdata holds the vectors that the Go and the page-side evaluators
// must both pass, so that a rule means the same in both languages.
package rules

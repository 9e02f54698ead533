// Package search makes redacted transcripts searchable. It defines the Index
// interface and its two backends: the embedded index (the default, nothing to
// run) and Elasticsearch (go-elasticsearch v8) for scale. Every backend passes
// the same contract tests.
package search

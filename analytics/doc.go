// Package analytics measures how visitors use a site: the event model,
// enrichment (user agent, crawler detection, referrer, UTM), the batching
// ingester that writes to its own SQLite file so that ingestion never holds the
// lock chat messages wait for, the rollups, and the report queries.
package analytics

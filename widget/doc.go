// Package widget is the page side: the strict TypeScript (no runtime
// dependencies) of the snippet's loader and its lazily loaded modules, and the
// Go code that bundles them with esbuild's Go API at start, keeps them in
// memory content-hashed and precompressed, and hands them to the server.
// Per-site data never goes into a bundle: it comes from /config/{siteKey}, so
// hashes stay stable and caches stay warm.
package widget

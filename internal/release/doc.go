// Package release turns a schema's rollups into releases: the only form in
// which aggregates leave the server (DESIGN.md, invariant 4).
//
// A release covers one bucket of one schema version and every grouping of
// the schema's plan (x-veil.release.plan). In mode "dp" it holds, per cell,
// a count, a clamped sum per measure and a histogram per measure over at
// most MaxBins public, log-spaced bins of the measure's clamp range, each
// with discrete Laplace noise drawn exactly (package dp) and persisted, so
// a restart, a repeated query or a query over a shifted range never draws
// fresh noise for a cell already released. Queries are answered from
// persisted cells by post-processing only (sums over buckets, negative
// counts shown as zero, means, percentiles of the noisy histogram); a
// grouping outside the plan is refused.
//
// The unit protected is one event. Every event falls in one bucket, so
// buckets compose in parallel; within a bucket the schema's ε is split
// over at most MaxProvisional provisional releases of the open bucket
// (ε/6 each) and the final release of the closed bucket (what is left, at
// least ε/2), and within a release evenly over the plan's groupings and,
// in each, the count and each measure's sum and histogram. A persisted
// ledger charges every release in the transaction that stores it and
// refuses a charge past the budget.
//
// Groupings whose dimensions all have public domains (enum, const,
// boolean) release every cell of the domain, none withheld. A grouping
// with any other dimension (a pattern) has data-dependent cells: a cell is
// released only when its noisy count reaches a threshold (the Laplace
// partition-selection mechanism), and the guarantee is (ε, δ) with δ
// stated in Plan.Delta.
//
// Mode "exact" is not handled here: its answers are exact rollups of
// groups of at least k, labelled subtractable by the admin plane.
package release

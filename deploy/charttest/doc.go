// Package charttest renders veil's Helm charts and parses its compose file.
package charttest

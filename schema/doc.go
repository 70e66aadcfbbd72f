// Package schema is veil's event schema format and its identifier firewall.
package schema

package schema

import (
	"fmt"
	"io"
)

// WriteFindings writes one finding per line, tab separated: property ("-"
// for the whole document), rule, message; a warning's message starts
// "warning: ". It is the output of veil schema lint.
func WriteFindings(w io.Writer, findings []Finding) {
	for _, f := range findings {
		p := f.Property
		if p == "" {
			p = "-"
		}
		msg := f.Message
		if f.Warning {
			msg = "warning: " + msg
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", p, f.Rule, msg)
	}
}

// WriteWarnings writes findings as WriteFindings does, each as a warning
// whatever its severity.
func WriteWarnings(w io.Writer, findings []Finding) {
	for _, f := range findings {
		f.Warning = true
		WriteFindings(w, []Finding{f})
	}
}

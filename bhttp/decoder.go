package bhttp

import "strings"

// decoder runs each message through the same parsing code twice. The first
// pass (fill == false) validates everything and tallies how many fields,
// informational responses, string bytes and content bytes the message holds;
// the second pass (fill == true) copies them into allocations of exactly that
// size. A decoded message thus costs a handful of allocations whatever its
// number of fields: one string backing for every name, value and control
// string, one []Field, one content slice, and the message struct.
type decoder struct {
	r    reader
	fill bool

	// tallies from the first pass
	nfields, ninfo, nstr, ncontent int

	// second-pass storage
	sb      strings.Builder
	fields  []Field
	fi      int
	info    []InformationalResponse
	content []byte
}

func (d *decoder) startFill() {
	d.fill = true
	d.r.off = 0
	if d.nfields > 0 {
		d.fields = make([]Field, d.nfields)
	}
	if d.ninfo > 0 {
		d.info = make([]InformationalResponse, d.ninfo)
	}
	d.sb.Grow(d.nstr)
}

// str returns p as a string backed by the decoder's single string buffer.
// Strings handed out earlier stay valid: the buffer was sized in the first
// pass, so writes only append past them and never move or rewrite them.
func (d *decoder) str(p []byte) string {
	if !d.fill {
		d.nstr += len(p)
		return ""
	}
	if len(p) == 0 {
		return ""
	}
	start := d.sb.Len()
	d.sb.Write(p)
	return d.sb.String()[start:]
}

func (d *decoder) fail(section string, off int, err error) error {
	return &DecodeError{Section: section, Offset: off, Err: err}
}

// body decodes what follows the control data of a request or final response:
// header section, content, trailer section, padding. The message may end
// before any of the three sections (RFC 9292 §3.1, §3.2); a missing section
// is empty.
func (d *decoder) body(indeterminate bool, header *[]Field, content *[]byte, trailer *[]Field) error {
	var err error
	if d.r.empty() {
		return nil
	}
	if *header, err = d.fieldSection(indeterminate, secHeader); err != nil {
		return err
	}
	if d.r.empty() {
		return nil
	}
	if *content, err = d.contentSection(indeterminate); err != nil {
		return err
	}
	if d.r.empty() {
		return nil
	}
	if *trailer, err = d.fieldSection(indeterminate, secTrailer); err != nil {
		return err
	}
	return d.padding()
}

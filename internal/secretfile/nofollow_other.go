//go:build !unix

package secretfile

const oNoFollow = 0

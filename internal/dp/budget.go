package dp

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrOverdraw reports a charge that would take a budget below zero.
var ErrOverdraw = errors.New("dp: privacy budget overdrawn")

// ParseRat reads a non-negative decimal or fraction ("1", "0.5", "1/6")
// exactly. ε values are written in schemas as JSON numbers and kept in the
// ledger as fractions, so no sum of shares rounds.
func ParseRat(s string) (*big.Rat, error) {
	// Digits, one point or slash only: an exponent ("1e400000000") would
	// make SetString build a huge number.
	if len(s) == 0 || len(s) > 64 || strings.Trim(s, "0123456789./") != "" {
		return nil, fmt.Errorf("%w: %q is not a non-negative decimal", ErrParameter, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return nil, fmt.Errorf("%w: %q is not a non-negative number", ErrParameter, s)
	}
	return r, nil
}

// Scale returns the discrete Laplace scale b = Δ/ε that makes a query of
// sensitivity Δ ε-differentially private.
func Scale(sensitivity *big.Int, eps *big.Rat) (*big.Rat, error) {
	if sensitivity.Sign() <= 0 || eps.Sign() <= 0 {
		return nil, ErrParameter
	}
	return new(big.Rat).Quo(new(big.Rat).SetInt(sensitivity), eps), nil
}

// Budget is ε to spend under sequential composition: charges add up and
// never exceed the total. The zero value has nothing to spend.
type Budget struct {
	total, spent big.Rat
}

// NewBudget returns a budget of total ε with spent already charged (as
// read back from a ledger). It fails when spent exceeds total.
func NewBudget(total, spent *big.Rat) (*Budget, error) {
	if total.Sign() < 0 || spent.Sign() < 0 {
		return nil, ErrParameter
	}
	if spent.Cmp(total) > 0 {
		return nil, ErrOverdraw
	}
	b := &Budget{}
	b.total.Set(total)
	b.spent.Set(spent)
	return b, nil
}

// Charge spends eps, or fails with ErrOverdraw and spends nothing.
func (b *Budget) Charge(eps *big.Rat) error {
	if eps.Sign() < 0 {
		return ErrParameter
	}
	next := new(big.Rat).Add(&b.spent, eps)
	if next.Cmp(&b.total) > 0 {
		return ErrOverdraw
	}
	b.spent.Set(next)
	return nil
}

// Left returns the ε still to spend.
func (b *Budget) Left() *big.Rat { return new(big.Rat).Sub(&b.total, &b.spent) }

// Spent returns the ε charged so far.
func (b *Budget) Spent() *big.Rat { return new(big.Rat).Set(&b.spent) }

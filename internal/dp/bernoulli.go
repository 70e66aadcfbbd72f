package dp

import (
	"crypto/rand"
	"errors"
	"io"
	"math/big"
)

// ErrParameter reports a sampler parameter outside its domain (a negative
// probability, a non-positive scale).
var ErrParameter = errors.New("dp: parameter out of range")

var (
	ratZero = new(big.Rat)
	ratOne  = big.NewRat(1, 1)
	intOne  = big.NewInt(1)
)

// uniform returns an integer uniform in [0, n), n > 0, by rejection
// (crypto/rand.Int reads whole bytes and retries above the largest
// multiple, so the draw is exactly uniform).
func uniform(r io.Reader, n *big.Int) (*big.Int, error) {
	return rand.Int(r, n)
}

// bernoulli returns true with probability p = a/b, 0 ≤ p ≤ 1, exactly:
// a uniform integer in [0, b) is below a.
func bernoulli(r io.Reader, p *big.Rat) (bool, error) {
	if p.Sign() < 0 || p.Cmp(ratOne) > 0 {
		return false, ErrParameter
	}
	if p.Sign() == 0 {
		return false, nil
	}
	u, err := uniform(r, p.Denom())
	if err != nil {
		return false, err
	}
	return u.Cmp(p.Num()) < 0, nil
}

// bernoulliExp returns true with probability exp(-γ), γ ≥ 0 rational
// (CKS 2020, Algorithm 1). For γ ≤ 1 it draws A_k ~ Bernoulli(γ/k) for
// k = 1, 2, … until the first false and answers whether that k is odd;
// larger γ splits into ⌊γ⌋ draws of exp(-1) and one of exp(-(γ-⌊γ⌋)).
func bernoulliExp(r io.Reader, gamma *big.Rat) (bool, error) {
	if gamma.Sign() < 0 {
		return false, ErrParameter
	}
	if gamma.Cmp(ratOne) <= 0 {
		k := big.NewInt(1)
		p := new(big.Rat)
		for {
			p.SetFrac(gamma.Num(), new(big.Int).Mul(gamma.Denom(), k))
			a, err := bernoulli(r, p)
			if err != nil {
				return false, err
			}
			if !a {
				break
			}
			k.Add(k, intOne)
		}
		return k.Bit(0) == 1, nil
	}
	whole := new(big.Int).Quo(gamma.Num(), gamma.Denom())
	for i := new(big.Int); i.Cmp(whole) < 0; i.Add(i, intOne) {
		b, err := bernoulliExp(r, ratOne)
		if err != nil || !b {
			return false, err
		}
	}
	frac := new(big.Rat).Sub(gamma, new(big.Rat).SetInt(whole))
	return bernoulliExp(r, frac)
}

package dp

import (
	"io"
	"math/big"
)

// Laplace draws from the discrete Laplace distribution of scale b > 0
// (rational): P[X = x] ∝ exp(-|x|/b) over the integers. Adding it to an
// integer query of sensitivity Δ is (Δ/b)-differentially private.
//
// With b = t/s in lowest terms this is CKS 2020, Algorithm 2: draw
// U uniform in [0, t) and keep it with probability exp(-U/t); draw V
// geometric with P[V = v] ∝ exp(-v); then X = U + tV is geometric with
// ratio exp(-1/t), Y = ⌊X/s⌋ geometric with ratio exp(-s/t), and a random
// sign (rejecting "-0") makes it two-sided.
func Laplace(r io.Reader, b *big.Rat) (*big.Int, error) {
	if b.Sign() <= 0 {
		return nil, ErrParameter
	}
	t, s := b.Num(), b.Denom()
	half := big.NewRat(1, 2)
	for {
		u, err := uniform(r, t)
		if err != nil {
			return nil, err
		}
		d, err := bernoulliExp(r, new(big.Rat).SetFrac(u, t))
		if err != nil {
			return nil, err
		}
		if !d {
			continue
		}
		v := new(big.Int)
		for {
			a, err := bernoulliExp(r, ratOne)
			if err != nil {
				return nil, err
			}
			if !a {
				break
			}
			v.Add(v, intOne)
		}
		x := v.Mul(v, t)
		x.Add(x, u)
		y := x.Quo(x, s)
		neg, err := bernoulli(r, half)
		if err != nil {
			return nil, err
		}
		if neg {
			if y.Sign() == 0 {
				continue
			}
			y.Neg(y)
		}
		return y, nil
	}
}

// Gaussian draws from the discrete Gaussian of variance parameter σ² > 0
// (rational): P[X = x] ∝ exp(-x²/(2σ²)). Adding it to a query of
// sensitivity Δ satisfies (Δ²/(2σ²))-zCDP.
//
// CKS 2020, Algorithm 3: with t = ⌊σ⌋ + 1, draw Y from the discrete
// Laplace of scale t and accept it with probability
// exp(-(|Y| - σ²/t)² / (2σ²)).
func Gaussian(r io.Reader, sigma2 *big.Rat) (*big.Int, error) {
	if sigma2.Sign() <= 0 {
		return nil, ErrParameter
	}
	t := floorSqrt(sigma2)
	t.Add(t, intOne)
	tr := new(big.Rat).SetInt(t)
	shift := new(big.Rat).Quo(sigma2, tr)
	twoSigma2 := new(big.Rat).Add(sigma2, sigma2)
	for {
		y, err := Laplace(r, tr)
		if err != nil {
			return nil, err
		}
		g := new(big.Rat).SetInt(new(big.Int).Abs(y))
		g.Sub(g, shift)
		g.Mul(g, g)
		g.Quo(g, twoSigma2)
		c, err := bernoulliExp(r, g)
		if err != nil {
			return nil, err
		}
		if c {
			return y, nil
		}
	}
}

// floorSqrt returns ⌊√q⌋ for q ≥ 0: the largest n with n² ≤ q, that is
// n² ≤ ⌊q⌋.
func floorSqrt(q *big.Rat) *big.Int {
	f := new(big.Int).Quo(q.Num(), q.Denom())
	return f.Sqrt(f)
}

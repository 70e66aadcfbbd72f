package dp

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// seeded is a deterministic reader: the tests' samplers are reproducible,
// production's read crypto/rand.
func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// moments draws n samples and returns their mean, variance and the share
// of zeros.
func moments(t *testing.T, n int, draw func() *big.Int) (mean, variance, zeros float64) {
	t.Helper()
	var sum, sq float64
	var z int
	for range n {
		v := draw()
		if !v.IsInt64() {
			t.Fatalf("draw %v out of int64", v)
		}
		x := float64(v.Int64())
		sum += x
		sq += x * x
		if x == 0 {
			z++
		}
	}
	mean = sum / float64(n)
	return mean, sq/float64(n) - mean*mean, float64(z) / float64(n)
}

func TestLaplaceMoments(t *testing.T) {
	const n = 60000
	for _, tc := range []struct {
		name string
		b    *big.Rat
	}{
		{"b=1", big.NewRat(1, 1)},
		{"b=5/2", big.NewRat(5, 2)},
		{"b=18", big.NewRat(18, 1)},
		{"b=1/3", big.NewRat(1, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := seeded(7)
			b, _ := tc.b.Float64()
			p := math.Exp(-1 / b)
			wantVar := 2 * p / ((1 - p) * (1 - p))
			wantZero := (1 - p) / (1 + p)
			mean, v, zeros := moments(t, n, func() *big.Int {
				x, err := Laplace(r, tc.b)
				if err != nil {
					t.Fatal(err)
				}
				return x
			})
			// Bounds at about five standard errors: the mean's is
			// √(var/n), the variance's about √(5/n)·var for this tail,
			// a frequency's √(q(1-q)/n).
			if se := math.Sqrt(wantVar / n); math.Abs(mean) > 5*se {
				t.Errorf("mean %.4f, want 0 ± %.4f", mean, 5*se)
			}
			if tol := 5 * math.Sqrt(5.0/n) * wantVar; math.Abs(v-wantVar) > tol {
				t.Errorf("variance %.4f, want %.4f ± %.4f", v, wantVar, tol)
			}
			if tol := 5 * math.Sqrt(wantZero*(1-wantZero)/n); math.Abs(zeros-wantZero) > tol {
				t.Errorf("P[0] %.4f, want %.4f ± %.4f", zeros, wantZero, tol)
			}
		})
	}
}

func TestGaussianMoments(t *testing.T) {
	const n = 30000
	for _, s2 := range []*big.Rat{big.NewRat(4, 1), big.NewRat(81, 2)} {
		t.Run(s2.RatString(), func(t *testing.T) {
			r := seeded(11)
			sigma2, _ := s2.Float64()
			// The discrete Gaussian's variance is below σ² by less than
			// 1e-9 for σ ≥ 2 (CKS 2020, Corollary 9), far inside the bound.
			mean, v, _ := moments(t, n, func() *big.Int {
				x, err := Gaussian(r, s2)
				if err != nil {
					t.Fatal(err)
				}
				return x
			})
			if se := math.Sqrt(sigma2 / n); math.Abs(mean) > 5*se {
				t.Errorf("mean %.4f, want 0 ± %.4f", mean, 5*se)
			}
			if tol := 5 * math.Sqrt(2.0/n) * sigma2; math.Abs(v-sigma2) > tol {
				t.Errorf("variance %.4f, want %.4f ± %.4f", v, sigma2, tol)
			}
		})
	}
}

func TestBernoulliExp(t *testing.T) {
	const n = 40000
	for _, g := range []*big.Rat{big.NewRat(0, 1), big.NewRat(1, 2), big.NewRat(1, 1), big.NewRat(7, 3)} {
		r := seeded(3)
		hits := 0
		for range n {
			ok, err := bernoulliExp(r, g)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				hits++
			}
		}
		gf, _ := g.Float64()
		want := math.Exp(-gf)
		got := float64(hits) / n
		if tol := 5*math.Sqrt(want*(1-want)/n) + 1e-12; math.Abs(got-want) > tol {
			t.Errorf("γ=%s: frequency %.4f, want %.4f ± %.4f", g.RatString(), got, want, tol)
		}
	}
	if _, err := bernoulliExp(seeded(1), big.NewRat(-1, 2)); err == nil {
		t.Error("negative γ accepted")
	}
}

// TestLaplaceFixedSeed pins the exact output for a fixed reader: any
// change to the arithmetic (a rounding, a float) changes these integers.
func TestLaplaceFixedSeed(t *testing.T) {
	r := seeded(42)
	var got []int64
	for _, b := range []*big.Rat{big.NewRat(1, 1), big.NewRat(18, 1), big.NewRat(600000, 1), big.NewRat(1, 54), big.NewRat(54, 1)} {
		for range 4 {
			x, err := Laplace(r, b)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, x.Int64())
		}
	}
	g, err := Gaussian(r, big.NewRat(9, 1))
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, g.Int64())
	want := goldenFixedSeed
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("draws %v, want %v", got, want)
		}
	}
}

func TestSamplerParameters(t *testing.T) {
	r := seeded(1)
	if _, err := Laplace(r, big.NewRat(0, 1)); err == nil {
		t.Error("scale 0 accepted")
	}
	if _, err := Laplace(r, big.NewRat(-1, 1)); err == nil {
		t.Error("negative scale accepted")
	}
	if _, err := Gaussian(r, big.NewRat(0, 1)); err == nil {
		t.Error("σ² = 0 accepted")
	}
	if _, err := bernoulli(r, big.NewRat(3, 2)); err == nil {
		t.Error("p > 1 accepted")
	}
	if got := floorSqrt(big.NewRat(81, 2)); got.Int64() != 6 {
		t.Errorf("⌊√40.5⌋ = %v", got)
	}
	if got := floorSqrt(big.NewRat(9, 1)); got.Int64() != 3 {
		t.Errorf("⌊√9⌋ = %v", got)
	}
}

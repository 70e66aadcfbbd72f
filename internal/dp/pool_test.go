package dp

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
)

func TestPoolDraws(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := NewPool(seeded(5), 16)
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() { defer wg.Done(); runErr = p.Run(ctx) }()
	p.Prepare(big.NewRat(2, 1))
	var sum int64
	const n = 2000
	for i := range n {
		b := big.NewRat(2, 1)
		if i%2 == 1 {
			b = big.NewRat(1, 3)
		}
		v, err := p.Laplace(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		sum += v.Int64()
	}
	cancel()
	wg.Wait()
	if runErr != nil {
		t.Fatal(runErr)
	}
	// Scale 2 has variance about 8.6, scale 1/3 about 0.1: the mean of
	// n draws is 0 within about 0.35 at five standard errors.
	if m := float64(sum) / n; m > 0.35 || m < -0.35 {
		t.Errorf("mean %.3f", m)
	}
	if _, err := p.Laplace(ctx, big.NewRat(0, 1)); !errors.Is(err, ErrParameter) {
		t.Errorf("scale 0: %v", err)
	}
}

type failingReader struct{}

var errRead = errors.New("read failed")

func (failingReader) Read([]byte) (int, error) { return 0, errRead }

func TestPoolReaderFailure(t *testing.T) {
	p := NewPool(failingReader{}, 4)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()
	if _, err := p.Laplace(context.Background(), big.NewRat(1, 1)); !errors.Is(err, errRead) {
		t.Fatalf("Laplace: %v, want the reader's error", err)
	}
	if err := <-done; !errors.Is(err, errRead) {
		t.Fatalf("Run: %v", err)
	}
}

func TestPoolContext(t *testing.T) {
	p := NewPool(seeded(1), 4) // no Run: nothing is ever filled
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Laplace(ctx, big.NewRat(1, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestBudget(t *testing.T) {
	total := big.NewRat(1, 1)
	b, err := NewBudget(total, new(big.Rat))
	if err != nil {
		t.Fatal(err)
	}
	sixth := big.NewRat(1, 6)
	for range 3 {
		if err := b.Charge(sixth); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Charge(big.NewRat(1, 2)); err != nil {
		t.Fatalf("the final half: %v", err)
	}
	if b.Left().Sign() != 0 || b.Spent().Cmp(total) != 0 {
		t.Fatalf("left %s spent %s", b.Left().RatString(), b.Spent().RatString())
	}
	if err := b.Charge(big.NewRat(1, 1000000)); !errors.Is(err, ErrOverdraw) {
		t.Fatalf("overdraw: %v", err)
	}
	if b.Spent().Cmp(total) != 0 {
		t.Fatal("a refused charge was spent")
	}
	if _, err := NewBudget(total, big.NewRat(3, 2)); !errors.Is(err, ErrOverdraw) {
		t.Fatalf("spent > total: %v", err)
	}
	for _, s := range []string{"-1", "x", "1e400000000"} {
		if _, err := ParseRat(s); err == nil {
			t.Errorf("ParseRat(%q) accepted", s)
		}
	}
	if r, err := ParseRat("0.5"); err != nil || r.Cmp(big.NewRat(1, 2)) != 0 {
		t.Errorf("ParseRat(0.5) = %v, %v", r, err)
	}
	s, err := Scale(big.NewInt(600000), big.NewRat(1, 18))
	if err != nil || s.Cmp(big.NewRat(10800000, 1)) != 0 {
		t.Errorf("Scale = %v, %v", s, err)
	}
}

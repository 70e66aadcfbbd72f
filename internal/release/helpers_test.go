package release

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// chacha is a deterministic reader for the exact samplers.
func chacha(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

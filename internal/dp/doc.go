// Package dp samples the noise of veil's differentially private releases
// exactly: integers only, rational parameters (math/big), randomness from an
// injected io.Reader (crypto/rand in production), no floating point
// anywhere. The samplers follow Canonne, Kamath and Steinke, "The Discrete
// Gaussian for Differential Privacy" (NeurIPS 2020), Algorithms 1-3:
// Bernoulli(exp(-γ)) by a von Neumann-style series, the discrete Laplace by
// geometric rejection, and the discrete Gaussian by rejection from the
// discrete Laplace.
//
// A Pool draws noise in the background so that a release computed on a
// request does not take longer or shorter depending on the noise it drew.
//
// Warning: a sampler is only as private as its reader. Tests pass a
// deterministic reader; anything else must pass crypto/rand.Reader.
package dp

package schema

import (
	"math"
	"math/bits"
)

// Long secret-looking strings: API keys without a published shape,
// digests, 16-hex Android ids.

// ratio is a threshold num/den, compared in integers: atMost(x, of) is
// x/of ≤ num/den.
type ratio struct{ num, den int }

func (r ratio) atMost(x, of int) bool { return x*r.den <= of*r.num }
func (r ratio) below(x, of int) bool  { return x*r.den < of*r.num }

// Thresholds of findSecretRun and pieces. The figures behind them are in
// findSecretRun's comment; TestDetectGenerated and TestDetectSingleCaseKeys
// hold them to their recall and false-positive bars.
const (
	secretHexDeviceID     = 16 // hex run of exactly this many: Android ID, 64-bit ids
	secretHexAdID         = 32 // IDFA/GAID without hyphens, MD5 of an identifier
	secretHexDigest       = 24 // hex runs of this many or more are digests
	secretHexMinDistinct  = 10 // distinct symbols a digest shows (of 16)
	secretID16MinDistinct = 6
	secretID32MinDistinct = 9
	secretMinRun          = 20 // random-looking runs of this many or more
	pieceMinRandom        = 20 // a piece read as random has this many characters,
	pieceMinRandomLetters = 16 // this many of them letters
	pieceMinWordLetters   = 4  // a piece read as a word has this many letters
	formatMinWords        = 2  // worded pieces that make a format constant,
	formatMaxOtherPiece   = 12 // when no other piece is longer than this
	singleCaseMinDigits   = 2  // digits of a single-case key
)

var (
	// shortSegments: a mean segment length ≤ 2.4 reads as random.
	shortSegments = ratio{12, 5}
	// fairSegments: ≤ 3.2 does too when vowels are few (fewVowels).
	fairSegments = ratio{16, 5}
	fewVowels    = ratio{3, 10}
	// Single-case keys with digits: vowels below a fifth of the letters
	// and segments of at most 6.
	rareVowels         = ratio{1, 5}
	singleCaseSegments = ratio{6, 1}
	// A piece whose letter pairs are frequent English bigrams fewer than
	// 27 % of the time reads as random (words reach about half, random
	// letters a sixth); a word has at least half.
	randomPiecePairs = ratio{27, 100}
	wordPiecePairs   = ratio{1, 2}
	// The distinct symbols of a run, against the number expected of
	// uniform draws from its alphabet.
	minDistinctShare = 0.6
)

// The seen bit set of a run or piece: one bit per symbol, digits from bit
// seenDigits, upper-case letters from seenUpper, lower-case from seenLower.
const (
	seenDigits = 0
	seenUpper  = 10
	seenLower  = 36
	seenLetter = 1<<26 - 1 // the 26 bits of one letter case
)

// findSecretRun looks at each run of token characters (base64 and base64url
// alphabets). What sets a secret apart from a long name is randomness, seen
// without reference to any vendor's key format in three ways:
//
//   - segment length: split the way a programmer's name splits (at case
//     humps, between letters and digits, at _ and -), random text falls
//     into short pieces — about 1.9 characters on average for base62, under
//     3.2 in 99 % of 20-character keys — while names are made of words
//     ("presentCheckoutOnboarding17" averages 6.75);
//   - vowels: random letters are vowels about one time in five, English
//     words two in five, which separates single-case keys ("AKIA…", base32)
//     whose letter runs are long;
//   - letter pairs: in each piece of a run between separators, how many
//     adjacent letters form a frequent English bigram; a long piece with
//     few is random (base32 keys, lower-case API keys, letters-only
//     secrets, the key behind "sk_live_"), and two worded pieces make a
//     format constant ("VK_FORMAT_R8G8B8A8_UNORM").
//
// A hexadecimal run of exactly 16 characters (Android ID, 64-bit ids) or 32
// (IDFA or GAID without hyphens, MD5 of an identifier) is a device id; other
// hexadecimal runs of 24 or more (SHA-1/SHA-256 digests, which are usually
// hashes of an identifier) and random-looking runs of 20 or more are tokens.
// Short hex ("5114f85", a 7–12 character commit id) stays benign.
//
// Each character is read once: runs do not overlap.
func findSecretRun(s string) (string, bool) {
	for i := 0; i < len(s); {
		if !isB64URL(s[i]) {
			i++
			continue
		}
		var (
			j                    = i
			upperN, lowerN, digN int
			vowels, segs         int
			seps                 int // separators inside the run
			ps                   pieces
			hexOnly              = true
			prev, prev2          uint8
			seen                 uint64
		)
		for j < len(s) && (isB64URL(s[j]) || s[j] == '+' || s[j] == '/' || s[j] == '=') {
			c := s[j]
			j++
			var (
				cls uint8
				bit uint64
			)
			switch {
			case isDigit(c):
				cls, bit = 1, 1<<(seenDigits+c-'0')
				digN++
			case 'A' <= c && c <= 'Z':
				cls, bit = 2, 1<<(seenUpper+c-'A')
				upperN++
			case 'a' <= c && c <= 'z':
				cls, bit = 3, 1<<(seenLower+c-'a')
				lowerN++
			default:
				if c != '=' || j < len(s) && s[j] != '=' && isB64URL(s[j]) {
					seps++ // not base32/base64 end padding
				}
				ps.end(true)
				prev, prev2 = 0, 0
				continue
			}
			// The current piece (counted here, not in a method: this loop
			// runs over every character of every string of every event).
			if cls == 1 {
				ps.digits++
				ps.prevLetter = 0
			} else {
				l := c | 0x20
				ps.letters++
				if ps.prevLetter != 0 {
					ps.pairs++
					if englishBigram[ps.prevLetter-'a'][l-'a'] {
						ps.common++
					}
				}
				ps.prevLetter = l
			}
			seen |= bit
			ps.seen |= bit
			if !isHex(c) {
				hexOnly = false
			}
			switch c | 0x20 {
			case 'a', 'e', 'i', 'o', 'u':
				vowels++
				ps.vowels++
			}
			switch {
			case prev == 0, (cls == 1) != (prev == 1), cls == 2 && prev == 3, cls == 3 && prev == 2 && prev2 == 2:
				segs++
			}
			prev2, prev = prev, cls
		}
		i = j
		ps.end(seps > 0)
		n := upperN + lowerN + digN
		if n < secretHexDeviceID || (n < secretMinRun && n != secretHexDeviceID) {
			continue
		}
		letters := upperN + lowerN
		// A piece of 20 or more (between separators, or the whole run)
		// whose adjacent letters are rarely a frequent English pair (see
		// pieces.isRandom). The class rules below take a letters-only run
		// for a word, and segment lengths say little about single-case
		// text or a key behind a worded prefix ("sk_live_…").
		if ps.random && !(hexOnly && digN > 0) {
			return KindToken, true
		}
		if digN == 0 || letters == 0 {
			if digN > 0 || upperN == 0 || lowerN == 0 {
				continue // one class only: a number or a word
			}
		}
		distinct := bits.OnesCount64(seen)
		if hexOnly && (upperN == 0 || lowerN == 0) {
			switch {
			case digN == 0 || letters == 0:
			case n == secretHexDeviceID && distinct >= secretID16MinDistinct,
				n == secretHexAdID && distinct >= secretID32MinDistinct:
				return KindDeviceID, true
			case n >= secretHexDigest && distinct >= secretHexMinDistinct:
				return KindToken, true
			}
			continue
		}
		if n < secretMinRun || float64(distinct) < minDistinctShare*expectedDistinct(26*min(upperN, 1)+26*min(lowerN, 1)+10*min(digN, 1), n) {
			continue
		}
		// Two or more pieces between separators that are words, and no
		// other piece longer than formatMaxOtherPiece, make a format code
		// or constant ("VK_FORMAT_R8G8B8A8_UNORM"), not a key; a key behind
		// a worded prefix ("token_value_…") has a long piece of its own.
		if ps.words >= formatMinWords && ps.longestOther <= formatMaxOtherPiece {
			continue
		}
		// Short segments; or fairly short ones with few vowels, which
		// keeps format codes made of words ("DXGI_FORMAT_R16G16B16A16_FLOAT")
		// out; or, for single-case keys with digits, rare vowels and
		// segments of at most 6.
		if shortSegments.atMost(n, segs) || fairSegments.atMost(n, segs) && fewVowels.atMost(vowels, letters) ||
			digN >= singleCaseMinDigits && rareVowels.below(vowels, letters) && singleCaseSegments.atMost(n, segs) {
			return KindToken, true
		}
	}
	return "", false
}

// pieces follows the pieces of a run between separators ('_', '-', '+',
// '/', '='): the current one, how many were words, the longest other, and
// whether one read as random.
type pieces struct {
	letters, digits, vowels int
	pairs, common           int // adjacent letters; those that are frequent English bigrams
	prevLetter              byte
	seen                    uint64

	words        int // pieces that read as words ("FORMAT", "UNORM")
	longestOther int // the longest piece that is not a word
	random       bool
}

// end closes the current piece (see isRandom for mixed) and starts the
// next.
func (p *pieces) end(mixed bool) {
	if p.isWord() {
		p.words++
	} else {
		p.longestOther = max(p.longestOther, p.letters+p.digits)
	}
	p.random = p.random || p.isRandom(mixed)
	p.letters, p.digits, p.vowels, p.pairs, p.common, p.prevLetter, p.seen = 0, 0, 0, 0, 0, 0, 0
}

// isWord reports whether the current piece reads as a word: four or more
// letters and no digits, a vowel, and at least half of its letter pairs
// frequent English bigrams.
func (p *pieces) isWord() bool {
	return p.letters >= pieceMinWordLetters && p.digits == 0 && p.vowels > 0 && !wordPiecePairs.below(p.common, p.pairs)
}

// isRandom reports whether the current piece reads as random: 20 or more
// characters, 16 or more of them letters, fewer than 27 % of its letter
// pairs frequent English bigrams, and enough distinct symbols that it is
// not a repetition ("aaaa…", "abab…"). A mixed-case piece counts only when
// mixed is set (the run has separators: a key behind a prefix such as
// "sk_live_"); a mixed-case run of its own is left to the segment rules,
// since camelCase names with acronyms ("BufferToggleGpsSync") pair their
// letters less like English.
func (p *pieces) isRandom(mixed bool) bool {
	n := p.letters + p.digits
	if n < pieceMinRandom || p.letters < pieceMinRandomLetters || !randomPiecePairs.below(p.common, p.pairs) {
		return false
	}
	upper := p.seen>>seenUpper&seenLetter != 0
	lower := p.seen>>seenLower&seenLetter != 0
	if upper && lower && !mixed {
		return false
	}
	k := 10*min(p.digits, 1) + 26
	if upper && lower {
		k += 26
	}
	return float64(bits.OnesCount64(p.seen)) >= minDistinctShare*expectedDistinct(k, n)
}

// englishBigram marks 108 frequent English letter pairs: about half of the
// adjacent letter pairs of English words (and of names made of them), a
// sixth of a random string's (108 of 676).
var englishBigram = func() (t [26][26]bool) {
	const list = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng " +
		"se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur " +
		"ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un " +
		"lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su " +
		"ke ey bo oa rd ck ay gh ht ld ab ag ap pl ry ty mp op up"
	for i := 0; i+1 < len(list); i += 3 {
		t[list[i]-'a'][list[i+1]-'a'] = true
	}
	return t
}()

// expectedDistinct is the expected number of distinct symbols among n
// uniform draws from an alphabet of k.
func expectedDistinct(k, n int) float64 {
	fk := float64(k)
	return fk * (1 - math.Pow(1-1/fk, float64(n)))
}

package search

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"strings"
)

// blinder turns words into tokens that say nothing of them without the
// tenant's key, yet keep their beginnings: a word's token begins with the
// token of each of its beginnings of MinPrefix bytes or more, so refun* is
// a prefix query over tokens. Each chunk is AES of one beginning (a
// pseudo-random function of it); the index learns which words, and which
// beginnings of 3 bytes or more, are equal, as any searchable index must.
//
// A token is a head (40 bits of the first 3 bytes, or of the whole of a
// shorter word), a step of 15 bits for each further byte up to maxChain, and
// for a word longer than 3 bytes a tail of 40 bits of the whole word, so
// that whole words are told apart by at least 80 bits while a prefix costs
// 3 characters a byte. A prefix query may match a word whose step collided
// (one chance in 32,768 a byte); a whole-word query may not.
type blinder struct{ c cipher.Block }

const (
	// maxChain is how many bytes of a word get a step each: prefixes longer
	// than this match as if cut to it.
	maxChain = 15
	alphabet = "0123456789abcdefghijklmnopqrstuv" // 5 bits a character
)

func newBlinder(key []byte) (blinder, error) {
	c, err := aes.NewCipher(key)
	return blinder{c}, err
}

// token is the token of word w, or of the beginning w when prefix is set.
func (b blinder) token(w string, prefix bool) string { return string(b.appendToken(nil, w, prefix)) }

// appendToken appends the token of w to buf.
func (b blinder) appendToken(buf []byte, w string, prefix bool) []byte {
	var in, out [aes.BlockSize]byte
	enc := func(n int, mark byte) {
		in = [aes.BlockSize]byte{}
		copy(in[:], w[:n])
		in[aes.BlockSize-1] = mark
		b.c.Encrypt(out[:], in[:])
	}
	bits40 := func() {
		v := uint64(out[0])<<32 | uint64(out[1])<<24 | uint64(out[2])<<16 | uint64(out[3])<<8 | uint64(out[4])
		for i := 35; i >= 0; i -= 5 {
			buf = append(buf, alphabet[v>>uint(i)&31])
		}
	}
	enc(min(len(w), MinPrefix), byte(min(len(w), MinPrefix)))
	bits40()
	for n := MinPrefix + 1; n <= min(len(w), maxChain); n++ {
		enc(n, byte(n))
		v := (uint16(out[0])<<8 | uint16(out[1])) >> 1
		buf = append(buf, alphabet[v>>10&31], alphabet[v>>5&31], alphabet[v&31])
	}
	switch {
	case prefix || len(w) <= MinPrefix:
	case len(w) <= maxChain:
		enc(len(w), 0x80|byte(len(w))) // the whole word, marked apart from its beginnings
		bits40()
	default:
		// A long word, hashed first.
		sum := sha256.Sum256([]byte(w))
		copy(in[:], sum[:])
		in[aes.BlockSize-1] = 0xff
		b.c.Encrypt(out[:], in[:])
		bits40()
	}
	return buf
}

// match is the FTS5 query of parts, in the words column (each a quoted
// phrase of tokens, a prefix followed by *), and of filter keys, in the
// filter column; all must match.
func (b blinder) match(parts []Part, filters []string) string {
	var q strings.Builder
	for i, p := range parts {
		if i > 0 {
			q.WriteString(" AND ")
		}
		q.WriteString(`t : "`)
		for j, w := range p.Words {
			if j > 0 {
				q.WriteByte(' ')
			}
			q.WriteString(b.token(w, p.Prefix))
		}
		q.WriteByte('"')
		if p.Prefix {
			q.WriteString(" *")
		}
	}
	for _, k := range filters {
		q.WriteString(` AND f : "` + b.token(k, false) + `"`)
	}
	return q.String()
}

// text is the tokens of a message's words, space separated.
func (b blinder) text(words []Term) string {
	buf := make([]byte, 0, 32*len(words))
	for i, w := range words {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = b.appendToken(buf, w, false)
	}
	return string(buf)
}

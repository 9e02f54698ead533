package search

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// blinder turns words into tokens that say nothing of them without the
// tenant's key, yet keep their beginnings: a word's token begins with the
// token of each of its beginnings of MinPrefix bytes or more, so refun* is
// a prefix query over tokens. Each chunk is AES of one beginning (a
// pseudo-random function of it); the index learns which words, and which
// beginnings of 3 bytes or more, are equal, as any searchable index must.
type blinder struct{ c cipher.Block }

const (
	headChunk = 10 // bytes of the chunk of a word's first MinPrefix bytes
	stepChunk = 5  // bytes of the chunk of each further byte
	// maxChain is how many bytes of a word get a chunk each; the rest of a
	// longer word is one chunk, so prefixes longer than this match as if
	// cut to it.
	maxChain = 15
)

// Chunks are multiples of 5 bytes, so the encoding of a token's beginning
// is the beginning of its encoding.
var tokenEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func newBlinder(key []byte) (blinder, error) {
	c, err := aes.NewCipher(key)
	return blinder{c}, err
}

// token is the token of word w, or of the beginning w when prefix is set.
func (b blinder) token(w string, prefix bool) string {
	var raw [headChunk + (maxChain-MinPrefix)*stepChunk + headChunk]byte
	var in, out [aes.BlockSize]byte
	chunk := func(n int, size int, buf []byte) []byte {
		in = [aes.BlockSize]byte{}
		copy(in[:], w[:n])
		in[aes.BlockSize-1] = byte(n)
		b.c.Encrypt(out[:], in[:])
		return append(buf, out[:size]...)
	}
	buf := chunk(min(len(w), MinPrefix), headChunk, raw[:0])
	for n := MinPrefix + 1; n <= min(len(w), maxChain); n++ {
		buf = chunk(n, stepChunk, buf)
	}
	if len(w) > maxChain && !prefix {
		// The whole long word, hashed first: the last byte marks it apart
		// from the beginnings (whose last byte is their length).
		sum := sha256.Sum256([]byte(w))
		copy(in[:], sum[:])
		in[aes.BlockSize-1] = 0xff
		b.c.Encrypt(out[:], in[:])
		buf = append(buf, out[:headChunk]...)
	}
	return tokenEncoding.EncodeToString(buf)
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
	var t strings.Builder
	for i, w := range words {
		if i > 0 {
			t.WriteByte(' ')
		}
		t.WriteString(b.token(w, false))
	}
	return t.String()
}

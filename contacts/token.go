package contacts

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A visitor token is how a site's backend vouches for a visitor where no
// page can (an app without a browser Origin, or a secured site that keeps
// nothing that proves identity in the browser): a JWT signed with HS256
// under the site's identity secret, naming the site (aud: its key) and the
// visitor (sub: the external id), short-lived (exp at most MaxTokenLife
// after iat).
type TokenClaims struct {
	jwt.RegisteredClaims
	Email      string            `json:"email,omitempty"`
	Name       string            `json:"name,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// MaxTokenLife bounds a visitor token's lifetime: it is a bearer secret.
const MaxTokenLife = time.Hour

// Why a visitor token is refused; each is said to the client.
var (
	ErrTokenMissing  = errors.New("a visitor token is required: the site's backend signs one for each visitor")
	ErrTokenInvalid  = errors.New("the visitor token is refused")
	ErrTokenSite     = errors.New("the visitor token is for another site")
	ErrTokenExpired  = errors.New("the visitor token has expired: get a new one from the site's backend")
	ErrTokenLifetime = errors.New("a visitor token lives at most an hour (exp - iat), and names its visitor (sub) in at most 128 bytes")
)

// leeway allows for clocks a little apart between the site and nudge.
const leeway = 30 * time.Second

// ParseVisitorToken checks a visitor token of the site whose key is siteKey
// and identity secret is secret, at now, and returns its claims.
func ParseVisitorToken(secret, siteKey, token string, now time.Time) (*TokenClaims, error) {
	if token == "" {
		return nil, ErrTokenMissing
	}
	if secret == "" {
		return nil, fmt.Errorf("%w: the site has no identity secret to check it with", ErrTokenInvalid)
	}
	if len(token) > 8192 {
		return nil, fmt.Errorf("%w: it is longer than 8 KiB", ErrTokenInvalid)
	}
	var c TokenClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway), jwt.WithTimeFunc(func() time.Time { return now }))
	// Said in the site developer's terms, not the JWT library's.
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, fmt.Errorf("%w: it is not signed with HS256 under the site's identity secret", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return nil, fmt.Errorf("%w: it has no expiry (exp)", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenNotValidYet):
		return nil, fmt.Errorf("%w: it is not valid yet (iat or nbf is in the future)", ErrTokenInvalid)
	default:
		return nil, fmt.Errorf("%w: it is not a well-formed JWT", ErrTokenInvalid)
	}
	// The audience after the signature: a token of another site says so only
	// when it is genuine.
	if len(c.Audience) != 1 || c.Audience[0] != siteKey {
		return nil, ErrTokenSite
	}
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTokenLife || c.Subject == "" || len(c.Subject) > MaxExternalID {
		return nil, ErrTokenLifetime
	}
	return &c, nil
}

// MintVisitorToken signs a visitor token as a site's backend does: for the
// visitor externalID of the site siteKey, valid for life from now.
func MintVisitorToken(secret, siteKey, externalID string, now time.Time, life time.Duration, email, name string) (string, error) {
	c := TokenClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: externalID, Audience: jwt.ClaimStrings{siteKey},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(life))}, Email: email, Name: name}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
}

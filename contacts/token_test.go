package contacts

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVisitorTokens(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	const secret, site = "site-secret", "shop"
	good, err := MintVisitorToken(secret, site, "cust-42", now, 10*time.Minute, "jane@example.com", "Jane")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseVisitorToken(secret, site, good, now.Add(time.Minute))
	if err != nil || c.Subject != "cust-42" || c.Email != "jane@example.com" || c.Name != "Jane" {
		t.Fatalf("a good token: %+v %v", c, err)
	}
	mint := func(claims jwt.Claims, method jwt.SigningMethod, key any) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(sub, aud string, iat, exp time.Time) TokenClaims {
		return TokenClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: sub, Audience: jwt.ClaimStrings{aud},
			IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp)}}
	}
	forged, _ := MintVisitorToken("another secret", site, "cust-42", now, time.Minute, "", "")
	other, _ := MintVisitorToken(secret, "other-site", "cust-42", now, time.Minute, "", "")
	expired, _ := MintVisitorToken(secret, site, "cust-42", now.Add(-time.Hour), 10*time.Minute, "", "")
	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"missing":              {"", ErrTokenMissing},
		"malformed":            {"not.a.token", ErrTokenInvalid},
		"forged":               {forged, ErrTokenInvalid},
		"tampered":             {good[:len(good)-2] + "xx", ErrTokenInvalid},
		"another site":         {other, ErrTokenSite},
		"expired":              {expired, ErrTokenExpired},
		"no expiry":            {mint(jwt.RegisteredClaims{Subject: "c", Audience: jwt.ClaimStrings{site}}, jwt.SigningMethodHS256, []byte(secret)), ErrTokenInvalid},
		"too long a life":      {mint(claims("c", site, now, now.Add(2*time.Hour)), jwt.SigningMethodHS256, []byte(secret)), ErrTokenLifetime},
		"no subject":           {mint(claims("", site, now, now.Add(time.Minute)), jwt.SigningMethodHS256, []byte(secret)), ErrTokenLifetime},
		"oversized subject":    {mint(claims(strings.Repeat("x", 129), site, now, now.Add(time.Minute)), jwt.SigningMethodHS256, []byte(secret)), ErrTokenLifetime},
		"issued in the future": {mint(claims("c", site, now.Add(time.Hour), now.Add(time.Hour+time.Minute)), jwt.SigningMethodHS256, []byte(secret)), ErrTokenInvalid},
		"another algorithm":    {mint(claims("c", site, now, now.Add(time.Minute)), jwt.SigningMethodHS512, []byte(secret)), ErrTokenInvalid},
		"unsigned":             {mint(claims("c", site, now, now.Add(time.Minute)), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), ErrTokenInvalid},
		"oversized":            {strings.Repeat("a", 9000), ErrTokenInvalid},
	} {
		_, err := ParseVisitorToken(secret, site, tc.token, now)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		// The site's developer reads this: no library's words.
		if err != nil && (strings.Contains(err.Error(), "base64") || strings.Contains(err.Error(), "signing method") || strings.Contains(err.Error(), "jwt")) {
			t.Errorf("%s: %q", name, err)
		}
	}
	if _, err := ParseVisitorToken("", site, good, now); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("a site without a secret: %v", err)
	}
}

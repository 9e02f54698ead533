// Package auth holds who is who in the console and the API: password hashing,
// console sessions, API bearer tokens, the login rate limit, and the casbin
// enforcer that decides what a role may do in a tenant.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/store"
)

// Errors a caller turns into answers.
var (
	ErrBadCredentials = errors.New("wrong email or password")
	ErrNoSession      = errors.New("no valid session")
	ErrNoToken        = errors.New("no valid token")
	ErrEscalation     = errors.New("only an owner may grant, change or remove the owner role")
)

// RateLimitedError says how long to wait before trying again.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed attempts: retry in %s", e.RetryAfter.Round(time.Second))
}

// Options tune the service; zero values take the defaults.
type Options struct {
	SessionTTL        time.Duration // idle time after which a session ends
	AccountFailures   int           // failed logins of an account from one address before the delays begin
	IPFailures        int           // failed logins per address per window, all accounts
	LoginWindow       time.Duration // the window; also the longest delay
	SessionTouchEvery time.Duration // how often activity is written back
}

func (o *Options) defaults() {
	if o.SessionTTL == 0 {
		o.SessionTTL = 7 * 24 * time.Hour
	}
	if o.AccountFailures == 0 {
		o.AccountFailures = 3
	}
	if o.IPFailures == 0 {
		o.IPFailures = 50
	}
	if o.LoginWindow == 0 {
		o.LoginWindow = 15 * time.Minute
	}
	if o.SessionTouchEvery == 0 {
		o.SessionTouchEvery = time.Minute
	}
}

// Service is authentication and the changes that move the policy (users,
// memberships, tokens): each writes the store, then the enforcer's cache.
type Service struct {
	st        *store.Store
	Enforcer  *Enforcer
	opts      Options
	byPair    *Backoff
	byIP      *Limiter
	dummyHash string
}

// New builds the service over st, loading the policy.
func New(ctx context.Context, st *store.Store, opts Options) (*Service, error) {
	opts.defaults()
	en, err := NewEnforcer(ctx, st)
	if err != nil {
		return nil, err
	}
	dummy, err := HashPassword("timing equaliser")
	if err != nil {
		return nil, err
	}
	return &Service{st: st, Enforcer: en, opts: opts,
		byPair:    NewBackoff(opts.AccountFailures, time.Second, opts.LoginWindow),
		byIP:      NewLimiter(opts.IPFailures, opts.LoginWindow),
		dummyHash: dummy}, nil
}

// Login is an established console session.
type Login struct {
	Secret  string // the cookie value; only its hash is stored
	Session store.Session
	User    store.User
}

// Login checks an email and password and opens a session.
func (s *Service) Login(ctx context.Context, email, password, ip, userAgent string) (Login, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	// An account's failures slow that account from that address only: whoever
	// knows an email cannot lock its owner out, and the owner, from an address
	// that has not been failing, logs in. An address failing across accounts
	// is limited too.
	pairKey, ipKey := email+"\x00"+ip, "ip:"+ip
	if wait := max(s.byPair.Check(pairKey), s.byIP.Check(ipKey)); wait > 0 {
		return Login{}, &RateLimitedError{RetryAfter: wait}
	}
	u, err := s.st.UserByEmail(ctx, email)
	hash := u.PasswordHash
	if errors.Is(err, store.ErrNotFound) {
		hash = s.dummyHash // same work for an unknown email: no account enumeration by timing
	} else if err != nil {
		return Login{}, err
	}
	ok, err := CheckPassword(hash, password)
	if err != nil && u.ID != "" {
		return Login{}, fmt.Errorf("login %s: %w", email, err)
	}
	if !ok || u.ID == "" {
		s.byPair.Fail(pairKey)
		s.byIP.Fail(ipKey)
		return Login{}, ErrBadCredentials
	}
	s.byPair.Reset(pairKey)
	secret, idHash := newSecret("")
	now := time.Now().UTC()
	if len(userAgent) > 256 {
		userAgent = userAgent[:256]
	}
	ss := store.Session{IDHash: idHash, UserID: u.ID, CSRFToken: base64.RawURLEncoding.EncodeToString(randomBytes(24)),
		UserAgent: strings.ToValidUTF8(userAgent, ""), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	if err := s.st.CreateSession(ctx, ss); err != nil {
		return Login{}, err
	}
	return Login{Secret: secret, Session: ss, User: u}, nil
}

// Session returns the live session a cookie value names, sliding its expiry.
func (s *Service) Session(ctx context.Context, secret string) (store.Session, store.User, error) {
	if secret == "" || len(secret) > 128 {
		return store.Session{}, store.User{}, ErrNoSession
	}
	now := time.Now().UTC()
	ss, err := s.st.Session(ctx, hashSecret(secret), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, store.User{}, ErrNoSession
	}
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	u, err := s.st.User(ctx, ss.UserID)
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	if now.Sub(ss.LastSeenAt) > s.opts.SessionTouchEvery {
		ss.LastSeenAt, ss.ExpiresAt = now, now.Add(s.opts.SessionTTL)
		if err := s.st.TouchSession(ctx, ss.IDHash, ss.LastSeenAt, ss.ExpiresAt); err != nil {
			return store.Session{}, store.User{}, err
		}
	}
	return ss, u, nil
}

// Logout ends the session a cookie value names.
func (s *Service) Logout(ctx context.Context, secret string) error {
	return s.st.DeleteSession(ctx, hashSecret(secret))
}

// SessionTTL is how long an idle session lives.
func (s *Service) SessionTTL() time.Duration { return s.opts.SessionTTL }

// Token returns the live API token a bearer secret names.
func (s *Service) Token(ctx context.Context, secret string) (store.Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 128 {
		return store.Token{}, ErrNoToken
	}
	now := time.Now().UTC()
	t, err := s.st.TokenByHash(ctx, hashSecret(secret), now)
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, ErrNoToken
	}
	if err != nil {
		return store.Token{}, err
	}
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > s.opts.SessionTouchEvery {
		if err := s.st.TouchToken(ctx, t.ID, now); err != nil {
			return store.Token{}, err
		}
	}
	return t, nil
}

const tokenPrefix = "nudge_"

// CreateToken makes an API token for tenant with role and returns its secret,
// which is shown once and never stored.
func (s *Service) CreateToken(ctx context.Context, a store.Actor, tenant, name, role string, expires *time.Time) (string, store.Token, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return "", store.Token{}, &store.FieldError{Field: "name", Message: "must be 1 to 100 characters"}
	}
	if !ValidRole(role) {
		return "", store.Token{}, &store.FieldError{Field: "role", Message: "unknown role"}
	}
	if expires != nil && !expires.After(time.Now()) {
		return "", store.Token{}, &store.FieldError{Field: "expires_at", Message: "must be in the future"}
	}
	secret, hash := newSecret(tokenPrefix)
	t, err := s.st.CreateToken(ctx, a, store.Token{TenantID: tenant, Name: name, Role: role, Hash: hash, CreatedBy: a.String(), ExpiresAt: expires})
	if err != nil {
		return "", store.Token{}, err
	}
	s.Enforcer.SetRole(TokenSubject(t.ID), tenant, role)
	return secret, t, nil
}

// DeleteToken revokes a token.
func (s *Service) DeleteToken(ctx context.Context, a store.Actor, tenant, id string) error {
	if err := s.st.DeleteToken(ctx, a, tenant, id); err != nil {
		return err
	}
	s.Enforcer.RemoveRole(TokenSubject(id), tenant)
	return nil
}

// NewUser is what creating a user takes.
type NewUser struct {
	Email, Name, Password, Role string
}

// CreateUser validates and creates a user, a member of tenant with u.Role
// (none when tenant is empty).
func (s *Service) CreateUser(ctx context.Context, a store.Actor, tenant string, nu NewUser) (store.User, error) {
	email, err := ValidEmail(nu.Email)
	if err != nil {
		return store.User{}, err
	}
	if err := ValidPassword(nu.Password); err != nil {
		return store.User{}, err
	}
	nu.Name = strings.TrimSpace(nu.Name)
	if utf8.RuneCountInString(nu.Name) > 200 {
		return store.User{}, &store.FieldError{Field: "name", Message: "at most 200 characters"}
	}
	if tenant != "" && !ValidRole(nu.Role) {
		return store.User{}, &store.FieldError{Field: "role", Message: "unknown role"}
	}
	hash, err := HashPassword(nu.Password)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.st.CreateUser(ctx, a, tenant, store.User{Email: email, Name: nu.Name, PasswordHash: hash}, nu.Role)
	if err != nil {
		return store.User{}, err
	}
	if tenant != "" {
		s.Enforcer.SetRole(UserSubject(u.ID), tenant, nu.Role)
	}
	return u, nil
}

// SetPassword sets a user's password and ends the user's sessions but keep
// (the secret of the session making the change; empty ends them all).
func (s *Service) SetPassword(ctx context.Context, a store.Actor, userID, password, keep string) error {
	if err := ValidPassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	var keepHash []byte
	if keep != "" {
		keepHash = hashSecret(keep)
	}
	return s.st.SetPassword(ctx, a, userID, hash, keepHash)
}

// ChangePassword is SetPassword for a user who proves the current password.
func (s *Service) ChangePassword(ctx context.Context, u store.User, current, next, keep string) error {
	ok, err := CheckPassword(u.PasswordHash, current)
	if err != nil {
		return err
	}
	if !ok {
		return &store.FieldError{Field: "current_password", Message: "is wrong"}
	}
	return s.SetPassword(ctx, store.Actor{Kind: "user", ID: u.ID}, u.ID, next, keep)
}

// SetMembership gives userID role in tenant. actorRole is the role of whoever
// asks: only an owner may touch the owner role.
func (s *Service) SetMembership(ctx context.Context, a store.Actor, actorRole, tenant, userID, role string) error {
	if !ValidRole(role) {
		return &store.FieldError{Field: "role", Message: "unknown role"}
	}
	current := s.Enforcer.Role(UserSubject(userID), tenant)
	if actorRole != RoleOwner && (role == RoleOwner || current == RoleOwner) {
		return ErrEscalation
	}
	if err := s.st.SetMembership(ctx, a, tenant, userID, role); err != nil {
		return err
	}
	s.Enforcer.SetRole(UserSubject(userID), tenant, role)
	return nil
}

// RemoveMembership takes userID out of tenant.
func (s *Service) RemoveMembership(ctx context.Context, a store.Actor, actorRole, tenant, userID string) error {
	if actorRole != RoleOwner && s.Enforcer.Role(UserSubject(userID), tenant) == RoleOwner {
		return ErrEscalation
	}
	if err := s.st.RemoveMembership(ctx, a, tenant, userID); err != nil {
		return err
	}
	s.Enforcer.RemoveRole(UserSubject(userID), tenant)
	return nil
}

// ValidEmail returns the address in canonical (lower-case) form, or a FieldError.
func ValidEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || len(email) > 254 || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") && !strings.HasSuffix(email, "@localhost") {
		return "", &store.FieldError{Field: "email", Message: "is not a valid email address"}
	}
	return email, nil
}

// ValidPassword enforces the password policy: 8 to 256 characters.
func ValidPassword(p string) error {
	if n := utf8.RuneCountInString(p); n < 8 || len(p) > 256 {
		return &store.FieldError{Field: "password", Message: "must be 8 to 256 characters"}
	}
	return nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newSecret returns a random secret with prefix and the hash to store.
func newSecret(prefix string) (string, []byte) {
	secret := prefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return secret, hashSecret(secret)
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

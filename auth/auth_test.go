package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func newService(t testing.TB) (*Service, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), storetest.Path(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(context.Background(), st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("HashPassword = %q, %v", h, err)
	}
	if ok, err := CheckPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, _ := CheckPassword(h, "correct horsE"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, bad := range []string{"", "$2a$10$abc", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=1,t=1,p=1$!!$!!"} {
		if ok, err := CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewLimiter(2, time.Minute)
	l.now = func() time.Time { return now }
	l.Fail("k")
	if l.Check("k") != 0 {
		t.Fatal("refused after one failure of two")
	}
	l.Fail("k")
	if wait := l.Check("k"); wait != time.Minute {
		t.Fatalf("Check after two failures = %v; want 1m", wait)
	}
	if l.Check("other") != 0 {
		t.Fatal("another key is refused")
	}
	now = now.Add(time.Minute)
	if l.Check("k") != 0 {
		t.Fatal("still refused after the window")
	}
	l.Fail("k")
	l.Reset("k")
	l.Fail("k")
	if l.Check("k") != 0 {
		t.Fatal("Reset did not forget failures")
	}
}

func TestLoginSessionAndRateLimit(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	tn, _ := st.CreateTenant(ctx, store.System, "A")
	u, err := s.CreateUser(ctx, store.System, tn.ID, NewUser{Email: " Ann@Example.com ", Password: "s3cret-pass", Role: RoleAgent})
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "ann@example.com" {
		t.Fatalf("email stored as %q", u.Email)
	}
	login, err := s.Login(ctx, "ANN@example.com", "s3cret-pass", "1.2.3.4", "test")
	if err != nil {
		t.Fatal(err)
	}
	ss, got, err := s.Session(ctx, login.Secret)
	if err != nil || got.ID != u.ID || ss.CSRFToken == "" {
		t.Fatalf("Session = %+v %+v %v", ss, got, err)
	}
	if _, _, err := s.Session(ctx, login.Secret+"x"); !errors.Is(err, ErrNoSession) {
		t.Fatalf("forged session = %v", err)
	}
	for range 4 {
		if _, err := s.Login(ctx, "ann@example.com", "wrong-pass", "5.6.7.8", ""); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("wrong password = %v", err)
		}
	}
	var rl *RateLimitedError
	if _, err := s.Login(ctx, "ann@example.com", "s3cret-pass", "5.6.7.8", ""); !errors.As(err, &rl) {
		t.Fatalf("login from the failing address after 4 failures = %v; want a delay even with the right password", err)
	}
	if _, err := s.Login(ctx, "ann@example.com", "s3cret-pass", "9.9.9.9", ""); err != nil {
		t.Fatalf("login from another address = %v; an attacker must not lock the owner out", err)
	}
	if _, err := s.Login(ctx, "nobody@example.com", "whatever1", "1.2.3.4", ""); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown email = %v; want ErrBadCredentials", err)
	}
	if err := s.Logout(ctx, login.Secret); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, login.Secret); !errors.Is(err, ErrNoSession) {
		t.Fatalf("session after logout = %v", err)
	}
}

func TestEnforcerFollowsMembershipsAndTokens(t *testing.T) {
	s, st := newService(t)
	ctx := context.Background()
	a, _ := st.CreateTenant(ctx, store.System, "A")
	b, _ := st.CreateTenant(ctx, store.System, "B")
	owner, _ := s.CreateUser(ctx, store.System, a.ID, NewUser{Email: "o@a.test", Password: "password1", Role: RoleOwner})
	admin, _ := s.CreateUser(ctx, store.System, a.ID, NewUser{Email: "ad@a.test", Password: "password1", Role: RoleAdmin})
	agent, _ := s.CreateUser(ctx, store.System, a.ID, NewUser{Email: "ag@a.test", Password: "password1", Role: RoleAgent})
	en := s.Enforcer
	if !en.Allowed(UserSubject(admin.ID), a.ID, "members", "write") {
		t.Fatal("admin may not write members in its tenant")
	}
	if en.Allowed(UserSubject(admin.ID), b.ID, "members", "read") {
		t.Fatal("admin of A may read members of B")
	}
	if en.Allowed(UserSubject(agent.ID), a.ID, "members", "write") {
		t.Fatal("agent may write members")
	}
	if err := s.SetMembership(ctx, store.Actor{Kind: "user", ID: admin.ID}, RoleAdmin, a.ID, agent.ID, RoleOwner); !errors.Is(err, ErrEscalation) {
		t.Fatalf("admin grants owner = %v; want ErrEscalation", err)
	}
	if err := s.RemoveMembership(ctx, store.Actor{Kind: "user", ID: admin.ID}, RoleAdmin, a.ID, owner.ID); !errors.Is(err, ErrEscalation) {
		t.Fatalf("admin removes owner = %v; want ErrEscalation", err)
	}
	if err := s.SetMembership(ctx, store.Actor{Kind: "user", ID: owner.ID}, RoleOwner, a.ID, agent.ID, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if !en.Allowed(UserSubject(agent.ID), a.ID, "members", "write") {
		t.Fatal("promotion not seen by the enforcer")
	}
	if err := s.RemoveMembership(ctx, store.Actor{Kind: "user", ID: owner.ID}, RoleOwner, a.ID, agent.ID); err != nil {
		t.Fatal(err)
	}
	if en.Allowed(UserSubject(agent.ID), a.ID, "members", "read") || en.Allowed(UserSubject(agent.ID), a.ID, "members", "write") {
		t.Fatal("removed member still allowed (a cached decision outlived the change)")
	}
	secret, tok, err := s.CreateToken(ctx, store.System, a.ID, "ci", RoleAdmin, nil)
	if err != nil || !strings.HasPrefix(secret, "nudge_") {
		t.Fatal(secret, err)
	}
	if got, err := s.Token(ctx, secret); err != nil || got.ID != tok.ID {
		t.Fatalf("Token = %v %v", got, err)
	}
	if !en.Allowed(TokenSubject(tok.ID), a.ID, "tokens", "write") {
		t.Fatal("admin token may not write tokens")
	}
	// A restart rebuilds the same decisions from the store alone.
	en2, err := NewEnforcer(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if !en2.Allowed(TokenSubject(tok.ID), a.ID, "tokens", "write") || en2.Allowed(UserSubject(agent.ID), a.ID, "members", "read") ||
		!en2.Allowed(UserSubject(owner.ID), a.ID, "sites", "secret") {
		t.Fatal("reloaded enforcer disagrees with the live one")
	}
	if err := s.DeleteToken(ctx, store.System, a.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, secret); !errors.Is(err, ErrNoToken) || en.Allowed(TokenSubject(tok.ID), a.ID, "tokens", "read") {
		t.Fatalf("revoked token still works: %v", err)
	}
	// Another process's enforcer (another node) hears of changes on its
	// own (Changed is told of each), but a refusal looks at the store
	// first: a token made a moment ago works there at once.
	changes := 0
	en.Changed = func() { changes++ }
	_, bot, err := s.CreateToken(ctx, store.System, a.ID, "bot", RoleBot, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changes != 1 {
		t.Fatalf("Changed told %d times of a new token", changes)
	}
	if en2.Allowed(TokenSubject(bot.ID), a.ID, "chat", "work") || !en2.AllowedNow(ctx, TokenSubject(bot.ID), a.ID, "chat", "work") {
		t.Fatal("the other enforcer did not find the new token's role in the store when it refused it")
	}
	if en2.AllowedNow(ctx, TokenSubject(bot.ID), b.ID, "chat", "work") {
		t.Fatal("a refusal that stands was allowed after all")
	}
}

func TestValidation(t *testing.T) {
	for _, e := range []string{"", "x", "a@", "@b.c", "a b@c.d", "A <a@b.c>", "a@b", strings.Repeat("a", 250) + "@b.com"} {
		if _, err := ValidEmail(e); err == nil {
			t.Errorf("ValidEmail(%q) accepted", e)
		}
	}
	for _, e := range []string{"a@b.co", "admin@localhost", "First.Last+tag@Example.ORG"} {
		if _, err := ValidEmail(e); err != nil {
			t.Errorf("ValidEmail(%q) = %v", e, err)
		}
	}
	if ValidPassword("short") == nil || ValidPassword(strings.Repeat("x", 257)) == nil || ValidPassword("long enough") != nil {
		t.Error("password policy is not 8 to 256 characters")
	}
}

// One address spraying many accounts is stopped by the per-IP limit.
func TestLoginLimitPerIP(t *testing.T) {
	st, err := store.Open(context.Background(), storetest.Path(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(context.Background(), st, Options{IPFailures: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.Login(context.Background(), fmt.Sprintf("u%d@a.test", i), "whatever-pw", "6.6.6.6", "")
	}
	var rl *RateLimitedError
	if _, err := s.Login(context.Background(), "fresh@a.test", "whatever-pw", "6.6.6.6", ""); !errors.As(err, &rl) {
		t.Fatalf("fourth account from one IP = %v; want rate limited", err)
	}
	if _, err := s.Login(context.Background(), "fresh@a.test", "whatever-pw", "7.7.7.7", ""); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("another IP = %v; want an ordinary failure", err)
	}
}

// Delays grow with each failure past the free ones, are capped, and end with
// a success or after a quiet window.
func TestBackoff(t *testing.T) {
	b := NewBackoff(2, time.Second, time.Minute)
	now := time.Unix(1_000_000, 0)
	b.now = func() time.Time { return now }
	var waits []time.Duration
	for range 10 {
		waits = append(waits, b.Check("k"))
		b.Fail("k")
		now = now.Add(b.Check("k")) // the attacker waits exactly as long as told
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute}
	for i := range want {
		if i > 0 && waits[i] != 0 {
			t.Fatalf("waited, then told to wait again: %v", waits)
		}
	}
	b2 := NewBackoff(2, time.Second, time.Minute)
	b2.now = func() time.Time { return now }
	var got []time.Duration
	for range 10 {
		b2.Fail("k")
		got = append(got, b2.Check("k"))
	}
	if fmt.Sprint(got) != fmt.Sprint([]time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}) {
		t.Fatalf("delays %v", got)
	}
	if b2.Check("other") != 0 {
		t.Fatal("another key waits")
	}
	b2.Reset("k")
	if b2.Check("k") != 0 {
		t.Fatal("a success does not end the delays")
	}
	b2.Fail("k")
	b2.Fail("k")
	b2.Fail("k")
	now = now.Add(time.Minute)
	if b2.Check("k") != 0 {
		t.Fatal("a quiet window does not end the delays")
	}
}

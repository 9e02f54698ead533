package auth

import (
	"context"
	"testing"

	"github.com/nudgehq/nudge/store"
)

// BenchmarkAllowed measures one casbin decision, made on every API request.
func BenchmarkAllowed(b *testing.B) {
	s, st := newService(b)
	ctx := context.Background()
	tn, _ := st.CreateTenant(ctx, store.System, "A")
	u, _ := s.CreateUser(ctx, store.System, tn.ID, NewUser{Email: "a@a.test", Password: "password1", Role: RoleAgent})
	sub := UserSubject(u.ID)
	b.ReportAllocs()
	for b.Loop() {
		if !s.Enforcer.Allowed(sub, tn.ID, "sites", "read") {
			b.Fatal("denied")
		}
	}
}

// BenchmarkHashPassword is the cost of one login or password change.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery staple")
	}
}

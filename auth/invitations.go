package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nudgehq/nudge/store"
)

// Invitation lifetimes: a week unless the inviter says otherwise.
const (
	InvitationTTL    = 7 * 24 * time.Hour
	MaxInvitationTTL = 30 * 24 * time.Hour
)

// invitationPrefix marks invitation tokens (as nudge_ marks API tokens).
const invitationPrefix = "nudge_inv_"

// Invite invites email to tenant with role for ttl, and returns the token
// (shown once). Whether an account has the address makes no difference to
// the answer. actorRole is the inviter's: only an owner invites an owner.
func (s *Service) Invite(ctx context.Context, a store.Actor, actorRole, tenant, email, role string, ttl time.Duration) (string, store.Invitation, error) {
	email, err := ValidEmail(email)
	if err != nil {
		return "", store.Invitation{}, err
	}
	if !ValidRole(role) {
		return "", store.Invitation{}, &store.FieldError{Field: "role", Message: "unknown role"}
	}
	if role == RoleOwner && actorRole != RoleOwner {
		return "", store.Invitation{}, ErrEscalation
	}
	if ttl <= 0 || ttl > MaxInvitationTTL {
		return "", store.Invitation{}, &store.FieldError{Field: "expires_in_days", Message: "1 to 30 days"}
	}
	token, hash := newSecret(invitationPrefix)
	inv, err := s.st.CreateInvitation(ctx, a, store.Invitation{TenantID: tenant, Email: email, Role: role, ExpiresAt: time.Now().Add(ttl)}, hash)
	if err != nil {
		return "", store.Invitation{}, err
	}
	return token, inv, nil
}

// validToken refuses what cannot be an invitation token before any lookup.
func validToken(token string) error {
	if !strings.HasPrefix(token, invitationPrefix) || len(token) > 100 {
		return store.ErrInvitation
	}
	return nil
}

// PendingInvitation returns the pending invitation a token names and its
// tenant's name, for the invited person to see what they accept.
func (s *Service) PendingInvitation(ctx context.Context, token string) (store.Invitation, string, error) {
	if err := validToken(token); err != nil {
		return store.Invitation{}, "", err
	}
	return s.st.PendingInvitation(ctx, hashSecret(token))
}

// AcceptInvitation makes u, logged in, a member of the invitation's tenant.
func (s *Service) AcceptInvitation(ctx context.Context, token string, u store.User) (store.Invitation, error) {
	if err := validToken(token); err != nil {
		return store.Invitation{}, err
	}
	inv, _, err := s.st.AcceptInvitation(ctx, hashSecret(token), u, false)
	if err != nil {
		return store.Invitation{}, err
	}
	s.Enforcer.SetRole(UserSubject(u.ID), inv.TenantID, inv.Role)
	return inv, nil
}

// JoinByInvitation is the invited person's answer without a session: the
// password of the account that has the invited address, or, when none has,
// a name and password for a new one. Either way the invitation is accepted
// and a session opened.
func (s *Service) JoinByInvitation(ctx context.Context, token, name, password, ip, userAgent string) (Login, store.Invitation, error) {
	inv, _, err := s.PendingInvitation(ctx, token)
	if err != nil {
		return Login{}, store.Invitation{}, err
	}
	if len(password) > 256 {
		return Login{}, store.Invitation{}, &store.FieldError{Field: "password", Message: "at most 256 characters"}
	}
	_, err = s.st.UserByEmail(ctx, inv.Email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := ValidPassword(password); err != nil {
			return Login{}, store.Invitation{}, err
		}
		name = strings.TrimSpace(name)
		if utf8.RuneCountInString(name) > 200 {
			return Login{}, store.Invitation{}, &store.FieldError{Field: "name", Message: "at most 200 characters"}
		}
		hash, err := HashPassword(password)
		if err != nil {
			return Login{}, store.Invitation{}, err
		}
		inv, _, err = s.st.AcceptInvitation(ctx, hashSecret(token), store.User{Email: inv.Email, Name: name, PasswordHash: hash}, true)
		if err != nil {
			return Login{}, store.Invitation{}, err
		}
	case err != nil:
		return Login{}, store.Invitation{}, err
	}
	// The account exists (or was just made): log in with its password.
	l, err := s.Login(ctx, inv.Email, password, ip, userAgent)
	if err != nil {
		return Login{}, store.Invitation{}, err
	}
	if inv.Status == "pending" {
		if inv, err = s.AcceptInvitation(ctx, token, l.User); err != nil {
			s.Logout(ctx, l.Secret)
			return Login{}, store.Invitation{}, fmt.Errorf("join by invitation: %w", err)
		}
	} else {
		s.Enforcer.SetRole(UserSubject(l.User.ID), inv.TenantID, inv.Role)
	}
	return l, inv, nil
}

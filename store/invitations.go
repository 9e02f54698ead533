package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Invitation asks the owner of an email address to join a tenant with a role.
// Its token is shown once, to whoever invites; only its hash is stored.
type Invitation struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Email      string     `json:"email"`
	Role       string     `json:"role"`
	Status     string     `json:"status"` // pending, accepted, revoked or expired
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	AcceptedBy string     `json:"accepted_by,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// ErrInvitation is an invitation that cannot be accepted: unknown, used,
// revoked or expired. One error for all, so that a token tells nothing more.
var ErrInvitation = errors.New("this invitation is not valid: it was used, revoked or has expired")

const invitationColumns = `id, tenant_id, email, role, created_by, created_at, expires_at, accepted_at, coalesce(accepted_by, ''), revoked_at`

func scanInvitation(sc interface{ Scan(...any) error }, now time.Time) (Invitation, error) {
	var inv Invitation
	var created, expires int64
	var accepted, revoked sql.NullInt64
	if err := sc.Scan(&inv.ID, &inv.TenantID, &inv.Email, &inv.Role, &inv.CreatedBy, &created, &expires, &accepted, &inv.AcceptedBy, &revoked); err != nil {
		return Invitation{}, err
	}
	inv.CreatedAt, inv.ExpiresAt = fromMillis(created), fromMillis(expires)
	inv.AcceptedAt, inv.RevokedAt = fromNullMillis(accepted), fromNullMillis(revoked)
	switch {
	case inv.AcceptedAt != nil:
		inv.Status = "accepted"
	case inv.RevokedAt != nil:
		inv.Status = "revoked"
	case !now.Before(inv.ExpiresAt):
		inv.Status = "expired"
	default:
		inv.Status = "pending"
	}
	return inv, nil
}

// CreateInvitation stores an invitation of inv.TenantID to inv.Email with
// inv.Role until inv.ExpiresAt. A pending invitation of the same address to
// the same tenant is revoked: the newest link is the one that works.
func (s *Store) CreateInvitation(ctx context.Context, a Actor, inv Invitation, tokenHash []byte) (Invitation, error) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	inv.ID, inv.CreatedBy, inv.CreatedAt, inv.Status = NewID(), a.String(), now, "pending"
	inv.ExpiresAt = inv.ExpiresAt.UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = ?
			WHERE tenant_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL`, millis(now), inv.TenantID, inv.Email); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO invitations (id, tenant_id, email, role, token_hash, created_by, created_at, expires_at)
			SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM tenants WHERE id = ?)`,
			inv.ID, inv.TenantID, inv.Email, inv.Role, tokenHash, inv.CreatedBy, millis(now), millis(inv.ExpiresAt), inv.TenantID)
		if err != nil {
			return err
		}
		return audit(ctx, tx, inv.TenantID, a, "invitation.create", "invitation", inv.ID,
			map[string]string{"email": inv.Email, "role": inv.Role, "expires_at": inv.ExpiresAt.Format(time.RFC3339)})
	})
	if err != nil {
		return Invitation{}, fmt.Errorf("store: invite %s to %s: %w", inv.Email, inv.TenantID, err)
	}
	return inv, nil
}

// Invitations lists one page of a tenant's invitations, newest first.
func (s *Store) Invitations(ctx context.Context, tenantID string, p Page) ([]Invitation, string, error) {
	after := p.After
	if after == "" {
		after = "\x7f" // sorts after every ULID
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+invitationColumns+` FROM invitations
		WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, tenantID, after, p.limit())
	if err != nil {
		return nil, "", fmt.Errorf("store: invitations of %s: %w", tenantID, err)
	}
	defer rows.Close()
	now := time.Now()
	out := []Invitation{}
	for rows.Next() {
		inv, err := scanInvitation(rows, now)
		if err != nil {
			return nil, "", fmt.Errorf("store: invitations of %s: %w", tenantID, err)
		}
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: invitations of %s: %w", tenantID, err)
	}
	out, next := trim(p, out, func(inv Invitation) string { return inv.ID })
	return out, next, nil
}

// RevokeInvitation revokes a tenant's pending (or expired) invitation; an
// accepted or revoked one is ErrConflict.
func (s *Store) RevokeInvitation(ctx context.Context, a Actor, tenantID, id string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var accepted, revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT accepted_at, revoked_at FROM invitations WHERE id = ? AND tenant_id = ?`, id, tenantID).Scan(&accepted, &revoked)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if accepted.Valid || revoked.Valid {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = ? WHERE id = ?`, millis(time.Now()), id); err != nil {
			return err
		}
		return audit(ctx, tx, tenantID, a, "invitation.revoke", "invitation", id, nil)
	})
	if err != nil {
		return fmt.Errorf("store: revoke invitation %s: %w", id, err)
	}
	return nil
}

// PendingInvitation returns the pending invitation whose token hashes to
// tokenHash, with its tenant's name; anything else is ErrInvitation.
func (s *Store) PendingInvitation(ctx context.Context, tokenHash []byte) (Invitation, string, error) {
	inv, err := scanInvitation(s.r.QueryRowContext(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE token_hash = ?`, tokenHash), time.Now())
	if errors.Is(err, sql.ErrNoRows) || (err == nil && inv.Status != "pending") {
		return Invitation{}, "", ErrInvitation
	}
	if err != nil {
		return Invitation{}, "", fmt.Errorf("store: invitation: %w", err)
	}
	t, err := s.Tenant(ctx, inv.TenantID)
	if err != nil {
		return Invitation{}, "", err
	}
	return inv, t.Name, nil
}

// AcceptInvitation makes the user a member of the invitation's tenant with
// its role, once: the invitation must be pending and for the user's email.
// With newUser, the user is created in the same transaction (an account made
// to accept). Both the acceptance and the membership are in the tenant's
// audit log, by the user.
func (s *Store) AcceptInvitation(ctx context.Context, tokenHash []byte, user User, newUser bool) (Invitation, User, error) {
	var inv Invitation
	now := time.Now().UTC().Truncate(time.Millisecond)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		inv, err = scanInvitation(tx.QueryRowContext(ctx, `SELECT `+invitationColumns+` FROM invitations WHERE token_hash = ?`, tokenHash), now)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && inv.Status != "pending") {
			return ErrInvitation
		}
		if err != nil {
			return err
		}
		if !strings.EqualFold(inv.Email, user.Email) {
			return ErrInvitationEmail
		}
		a := Actor{Kind: "user", ID: user.ID}
		if newUser {
			user.ID, user.CreatedAt, user.UpdatedAt = NewID(), now, now
			a.ID = user.ID
			_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
				user.ID, user.Email, user.Name, user.PasswordHash, millis(now), millis(now))
			if isUnique(err) {
				return ErrConflict
			}
			if err != nil {
				return err
			}
			if err := audit(ctx, tx, inv.TenantID, a, "user.create", "user", user.ID, map[string]string{"email": user.Email}); err != nil {
				return err
			}
		} else {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM memberships WHERE tenant_id = ? AND user_id = ?`, inv.TenantID, user.ID).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return ErrAlreadyMember
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ?`, millis(now), user.ID, inv.ID); err != nil {
			return err
		}
		if err := audit(ctx, tx, inv.TenantID, a, "invitation.accept", "invitation", inv.ID, map[string]string{"role": inv.Role}); err != nil {
			return err
		}
		return setMembership(ctx, tx, a, inv.TenantID, user.ID, inv.Role)
	})
	if err != nil {
		return Invitation{}, User{}, fmt.Errorf("store: accept invitation: %w", err)
	}
	inv.Status, inv.AcceptedAt, inv.AcceptedBy = "accepted", &now, user.ID
	return inv, user, nil
}

var (
	// ErrInvitationEmail is an invitation accepted by an account of another email.
	ErrInvitationEmail = errors.New("this invitation is for another email address")
	// ErrAlreadyMember is an invitation accepted by a member of its tenant.
	ErrAlreadyMember = errors.New("you are already a member of this tenant")
)

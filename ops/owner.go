package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/cluster"
	"github.com/nudgehq/nudge/store"
)

// What needs a tenant's chats in memory (availability, the welcome, the
// live board, closing a site's or a visitor's chats) runs on the node that
// runs the tenant: here, or asked over the bus (onOwner). The answering
// node's errors keep their kind across (ownerErrors), so that the transport
// renders them as it would its own.

// ErrMoving: no node runs the tenant right now (its chats are moving from
// a node to another, or the bus is down): try again in a moment.
var ErrMoving = errors.New("the chat is moving to another server: try again in a moment")

var ownerErrors = map[string]error{
	"not_found": chat.ErrNotFound, "forbidden": chat.ErrForbidden, "state": chat.ErrState,
	"elsewhere": chat.ErrElsewhere, "store_not_found": store.ErrNotFound,
}

func errorKind(err error) string {
	for k, e := range ownerErrors {
		if errors.Is(err, e) {
			return k
		}
	}
	return "internal"
}

// remoteError is an error of the answering node, with its message and kind.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }

func callError(err error) error {
	var ce *cluster.CallError
	switch {
	case errors.Is(err, cluster.ErrNoOwner):
		return ErrMoving
	case errors.As(err, &ce):
		if ce.Kind == "elsewhere" {
			return ErrMoving
		}
		if k, ok := ownerErrors[ce.Kind]; ok {
			return &remoteError{msg: ce.Message, kind: k}
		}
		return errors.New(ce.Message)
	}
	return err
}

// onOwner runs local on the node that runs tenant: here, or there as op.
func onOwner[T any](ctx context.Context, s *Service, tenant, op string, local func() (T, error)) (T, error) {
	return onOwnerWith(ctx, s, tenant, op, nil, local)
}

// onOwnerWith is onOwner with the call's arguments (JSON).
func onOwnerWith[T any](ctx context.Context, s *Service, tenant, op string, args any, local func() (T, error)) (T, error) {
	if s.RunsTenant(tenant) {
		return local()
	}
	var v T
	var body []byte
	if args != nil {
		var err error
		if body, err = json.Marshal(args); err != nil {
			return v, err
		}
	}
	out, err := s.cluster.bus.Call(ctx, tenant, op, body)
	if err != nil {
		return v, callError(err)
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return v, fmt.Errorf("the answer of %s: %w", op, err)
	}
	return v, nil
}

// answer runs a call another node made for a tenant this node runs.
func (s *Service) answer(ctx context.Context, tenant, op string, args []byte) ([]byte, error) {
	var v any
	var err error
	switch op {
	case "availability":
		v, err = s.Chat.Availability(ctx, tenant)
	case "welcome":
		v, err = s.Chat.Welcome(ctx, tenant)
	case "live":
		v, err = s.Chat.LiveState(ctx, tenant)
	case "colleagues":
		v, err = s.Chat.Colleagues(ctx, tenant)
	case "dispositions":
		v, err = s.Chat.Dispositions(ctx, tenant)
	case "close-site":
		var a closeArgs
		if err = json.Unmarshal(args, &a); err == nil {
			s.Chat.CloseSite(ctx, tenant, a.Site)
			v = true
		}
	case "poll-offers":
		var a pollArgs
		if err = json.Unmarshal(args, &a); err == nil {
			v = s.pushes.poll(a.Site, a.IDs, time.Now())
		}
	case "push-offer":
		var a pushArgs
		if err = json.Unmarshal(args, &a); err == nil {
			v = s.pushes.pushAny(a, time.Now())
		}
	case "on-site":
		var a pollArgs
		if err = json.Unmarshal(args, &a); err == nil {
			v = s.pushes.onSiteAll(a.Site, a.IDs, time.Now())
		}
	case "close-visitor":
		var a closeArgs
		if err = json.Unmarshal(args, &a); err == nil {
			s.Chat.CloseVisitor(ctx, tenant, a.Site, a.Visitors, a.Identity)
			v = true
		}
	default:
		err = fmt.Errorf("no call %q here", op)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// closeArgs say which chats close-site and close-visitor close.
type closeArgs struct {
	Site     string   `json:"site"`
	Visitors []string `json:"visitors,omitempty"`
	Identity string   `json:"identity,omitempty"`
}

// QueueStates are the tenant's queues as its engine counts them now.
func (s *Service) QueueStates(ctx context.Context, tenant string) ([]chat.QueueState, error) {
	return onOwner(ctx, s, tenant, "availability", func() ([]chat.QueueState, error) { return s.Chat.Availability(ctx, tenant) })
}

// welcomeOf is the welcome cache's loader.
func (s *Service) welcomeOf(ctx context.Context, tenant string) (chat.WelcomeState, error) {
	return onOwner(ctx, s, tenant, "welcome", func() (chat.WelcomeState, error) { return s.Chat.Welcome(ctx, tenant) })
}

// LiveState is the tenant's live board now.
func (s *Service) LiveState(ctx context.Context, tenant string) (chat.Live, error) {
	return onOwner(ctx, s, tenant, "live", func() (chat.Live, error) { return s.Chat.LiveState(ctx, tenant) })
}

// Colleagues are the tenant's members who work chats, as the engine sees them.
func (s *Service) Colleagues(ctx context.Context, tenant string) ([]chat.Colleague, error) {
	return onOwner(ctx, s, tenant, "colleagues", func() ([]chat.Colleague, error) { return s.Chat.Colleagues(ctx, tenant) })
}

// Dispositions are the tenant's close dispositions.
func (s *Service) Dispositions(ctx context.Context, tenant string) ([]string, error) {
	return onOwner(ctx, s, tenant, "dispositions", func() ([]string, error) { return s.Chat.Dispositions(ctx, tenant) })
}

// closeChats closes a site's open chats, or those of some of its visitors,
// on the node that runs the tenant (before their data goes).
func (s *Service) closeChats(ctx context.Context, tenant string, a closeArgs, visitors bool) error {
	op := "close-site"
	if visitors {
		op = "close-visitor"
	}
	if s.RunsTenant(tenant) {
		if visitors {
			s.Chat.CloseVisitor(ctx, tenant, a.Site, a.Visitors, a.Identity)
		} else {
			s.Chat.CloseSite(ctx, tenant, a.Site)
		}
		return nil
	}
	body, _ := json.Marshal(a)
	if _, err := s.cluster.bus.Call(ctx, tenant, op, body); err != nil {
		return callError(err)
	}
	return nil
}

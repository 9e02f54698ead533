package chat

import (
	"context"
	"testing"
	"time"

	"github.com/nudgehq/nudge/store"
)

// stuckStore is the real store, except that reading one tenant's queues
// waits until the test lets it go: a disk or database that hangs for that
// tenant.
type stuckStore struct {
	*store.Store
	tenant  string
	stuck   chan struct{} // closed when a read is waiting
	release chan struct{}
}

func (s *stuckStore) Queues(ctx context.Context, tenantID string) ([]store.Queue, error) {
	if tenantID == s.tenant {
		close(s.stuck)
		<-s.release
	}
	return s.Store.Queues(ctx, tenantID)
}

// TestTenantsDoNotWaitForEachOther: while a read of one tenant's chat
// configuration hangs (a reload, or the tenant's first load), another
// tenant's chats go on: messages both ways, a new chat routed, a close.
// The engine holds no lock of its while it reads the store.
func TestTenantsDoNotWaitForEachOther(t *testing.T) {
	for _, first := range []bool{false, true} {
		name := "reload"
		if first {
			name = "first load"
		}
		t.Run(name, func(t *testing.T) {
			x := newEng(t, nil)
			x.queue("Support", QueueConfig{})
			ann := x.member("Ann", "agent", nil)
			desk := x.online(ann)
			v, visitor, _ := x.start(Meta{})
			x.accept(ann, v.Conversation)

			other, err := x.st.CreateTenant(x.ctx, store.System, "Other")
			if err != nil {
				t.Fatal(err)
			}
			bob, err := x.st.CreateUser(x.ctx, store.System, other.ID, store.User{Email: "bob@other.test", Name: "Bob", PasswordHash: "x"}, "agent")
			if err != nil {
				t.Fatal(err)
			}
			if !first {
				// The other tenant is in memory; a settings change reloads it.
				if _, err := x.e.ConnectAgent(x.ctx, Agent{Tenant: other.ID, User: bob.ID, Name: "Bob"}, &rec{}, Away); err != nil {
					t.Fatal(err)
				}
			}
			st := &stuckStore{Store: x.st, tenant: other.ID, stuck: make(chan struct{}), release: make(chan struct{})}
			x.e.st = st
			hung := make(chan error, 1)
			go func() {
				if first {
					_, err := x.e.ConnectAgent(context.Background(), Agent{Tenant: other.ID, User: bob.ID, Name: "Bob"}, &rec{}, Away)
					hung <- err
				} else {
					hung <- x.e.Reload(context.Background(), other.ID)
				}
			}()
			<-st.stuck

			flowed := make(chan struct{})
			go func() {
				defer close(flowed)
				x.say(v, "is my parcel on its way?")
				x.reply(ann, v.Conversation, "it left this morning")
				w, _, _ := x.start(Meta{})
				x.accept(ann, w.Conversation)
				x.e.Tick(x.ctx)
				if err := x.e.CloseChat(x.ctx, ann, w.Conversation, "", nil); err != nil {
					t.Error(err)
				}
			}()
			select {
			case <-flowed:
			case err := <-hung:
				t.Fatalf("the stuck read returned before it was let go: %v", err)
			case <-time.After(time.Minute): // a guard: the chat takes milliseconds
				t.Fatal("a tenant's chat waited for another tenant's store read")
			}
			if got := visitor.texts(); len(got) == 0 || got[len(got)-1] != "it left this morning" {
				t.Fatalf("the visitor got %q", got)
			}
			if !desk.has("message", v.Conversation) {
				t.Fatal("the agent did not get the visitor's message")
			}
			close(st.release)
			if err := <-hung; err != nil {
				t.Fatalf("the read let go: %v", err)
			}
		})
	}
}

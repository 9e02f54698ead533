package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/search"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

// flaky is the real index, made to fail part-way through a removal: it
// removes the first conversation asked, then fails, as a cluster that
// drops the connection in the middle of a delete_by_query does.
type flaky struct {
	inner   search.Index
	failing atomic.Bool
	calls   atomic.Int64
}

func (f *flaky) Index(ctx context.Context, docs []search.Doc, cp time.Time) error {
	return f.inner.Index(ctx, docs, cp)
}
func (f *flaky) Checkpoint(ctx context.Context) (time.Time, error) { return f.inner.Checkpoint(ctx) }
func (f *flaky) Search(ctx context.Context, q search.Query) (search.Result, error) {
	return f.inner.Search(ctx, q)
}
func (f *flaky) Count(ctx context.Context, tenant string) (int64, error) {
	return f.inner.Count(ctx, tenant)
}
func (f *flaky) Health(ctx context.Context) error { return f.inner.Health(ctx) }
func (f *flaky) Close() error                     { return f.inner.Close() }

func (f *flaky) DeleteConversations(ctx context.Context, tenant string, ids []string) error {
	f.calls.Add(1)
	if !f.failing.Load() {
		return f.inner.DeleteConversations(ctx, tenant, ids)
	}
	if len(ids) > 0 {
		if err := f.inner.DeleteConversations(ctx, tenant, ids[:1]); err != nil {
			return err
		}
	}
	return errors.New("the index went away in the middle")
}

const desktopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

type fixture struct {
	t      testing.TB
	ctx    context.Context
	s      *Service
	ix     *flaky
	tenant store.Tenant
	site   store.Site
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	cfg := Config{DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key"), SessionTTL: time.Hour, SearchPrefix: "nudge"}
	if storetest.Postgres() {
		cfg.DatabaseURL = storetest.Path(t, dir)
	}
	st, err := store.Open(ctx, cfg.DatabasePath())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	f := &fixture{t: t, ctx: ctx, s: s, ix: &flaky{inner: s.Search}}
	s.Search = f.ix
	if f.tenant, err = st.CreateTenant(ctx, store.System, "Shop"); err != nil {
		t.Fatal(err)
	}
	if f.site, err = st.CreateSite(ctx, store.System, store.Site{TenantID: f.tenant.ID, Name: "shop", Theme: store.DefaultSiteTheme}); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.System, f.tenant.ID, store.User{Email: "ann@shop.test", Name: "Ann", PasswordHash: "x"}, "agent")
	if err != nil {
		t.Fatal(err)
	}
	// A queue and an agent online: without them, a chat is only a left message.
	if _, err := st.CreateQueue(ctx, store.System, store.Queue{TenantID: f.tenant.ID, Name: "Support", Config: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Chat.Reload(ctx, f.tenant.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Chat.ConnectAgent(ctx, chat.Agent{Tenant: f.tenant.ID, User: u.ID, Name: "Ann"}, discard{}, chat.Available); err != nil {
		t.Fatal(err)
	}
	return f
}

type discard struct{}

func (discard) Send(chat.Event) {}

// chat starts a conversation of visitor on the site with one message,
// indexed by the time it returns.
func (f *fixture) chat(visitor, text string) string { return f.chatWith(visitor, chat.Meta{}, text) }

// chatAs starts a chat of visitor whose page verified them as user.
func (f *fixture) chatAs(visitor, user, text string) string {
	return f.chatWith(visitor, chat.Meta{Identity: &chat.Identity{ID: user, Verified: true}}, text)
}

func (f *fixture) chatWith(visitor string, meta chat.Meta, text string) string {
	f.t.Helper()
	v, _, err := f.s.Chat.Start(f.ctx, f.site, visitor, meta)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.Chat.VisitorSend(f.ctx, v, chat.Message{Text: text}); err != nil {
		f.t.Fatal(err)
	}
	f.s.Chat.Flush()
	if err := f.s.Feed.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	return v.Conversation
}

func (f *fixture) indexed() int64 {
	f.t.Helper()
	n, err := f.ix.inner.Count(f.ctx, f.tenant.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) stored(id string) bool {
	f.t.Helper()
	_, err := f.s.Store.Conversation(f.ctx, f.tenant.ID, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatal(err)
	}
	return err == nil
}

// event records one page view of visitor on the site, committed.
func (f *fixture) event(visitor string) {
	f.t.Helper()
	now := time.Now()
	b := &analytics.Batch{Site: f.site.Key, Visitor: visitor, Sent: now.UnixMilli(),
		Events: []analytics.Event{{Type: "pageview", URL: "https://shop.example.com/", TS: now.UnixMilli()}}}
	if _, err := f.s.Ingest.Accept(f.ctx, &f.site, b, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: now}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Ingest.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) events() int {
	f.t.Helper()
	var n int
	if err := f.s.Analytics.R.QueryRowContext(f.ctx, `SELECT count(*) FROM event_log`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// TestDeleteSiteRetriesAfterTheIndexFails: the index goes first, so a
// failure part-way leaves every conversation in the store, still findable
// by the retry, which completes the deletion.
func TestDeleteSiteRetriesAfterTheIndexFails(t *testing.T) {
	f := newFixture(t)
	a, b := f.chat("v1", "where is my parcel"), f.chat("v2", "refund please")
	f.event("v1")
	if f.indexed() != 2 {
		t.Fatalf("indexed %d messages, want 2", f.indexed())
	}
	f.ix.failing.Store(true)
	if err := f.s.DeleteSite(f.ctx, store.System, f.tenant.ID, f.site.ID); err == nil {
		t.Fatal("the deletion succeeded though the index failed")
	}
	if !f.stored(a) || !f.stored(b) {
		t.Fatal("conversations left the store before the index let them go")
	}
	if _, err := f.s.Store.Site(f.ctx, f.tenant.ID, f.site.ID); err != nil {
		t.Fatalf("the site went though its conversations are still there: %v", err)
	}
	f.ix.failing.Store(false)
	if cfg, err := f.s.PageConfig(f.ctx, f.site.Key); err != nil || cfg == nil {
		t.Fatalf("the site's pages get no configuration before the deletion: %v", err)
	}
	if err := f.s.DeleteSite(f.ctx, store.System, f.tenant.ID, f.site.ID); err != nil {
		t.Fatal(err)
	}
	if f.stored(a) || f.stored(b) || f.indexed() != 0 || f.events() != 0 {
		t.Fatalf("after the retry: stored %v %v, indexed %d, events %d", f.stored(a), f.stored(b), f.indexed(), f.events())
	}
	if cfg, err := f.s.PageConfig(f.ctx, f.site.Key); err != nil || cfg != nil {
		t.Fatalf("the deleted site's pages still get a configuration: %v", err)
	}
	if _, err := f.s.Store.Site(f.ctx, f.tenant.ID, f.site.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the site is still there: %v", err)
	}
}

func TestEraseVisitorRetriesAfterTheIndexFails(t *testing.T) {
	f := newFixture(t)
	a, b, other := f.chat("v1", "first"), f.chat("v1", "second"), f.chat("v2", "keep me")
	f.event("v1")
	f.event("v2")
	f.ix.failing.Store(true)
	if _, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, "v1"); err == nil {
		t.Fatal("the erasure succeeded though the index failed")
	}
	if !f.stored(a) || !f.stored(b) {
		t.Fatal("conversations left the store before the index let them go")
	}
	f.ix.failing.Store(false)
	out, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if out.Conversations != 2 || f.stored(a) || f.stored(b) || !f.stored(other) || f.indexed() != 1 {
		t.Fatalf("after the retry: %+v, stored %v %v %v, indexed %d", out, f.stored(a), f.stored(b), f.stored(other), f.indexed())
	}
	if f.events() != 1 {
		t.Fatalf("%d events left, want the other visitor's 1", f.events())
	}
	for _, bad := range []string{"", string(make([]byte, 129))} {
		if _, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, bad); !errors.Is(err, ErrBadVisitor) {
			t.Fatalf("erase %q: %v", bad, err)
		}
	}
	if _, err := f.s.EraseVisitor(f.ctx, store.System, "another-tenant", f.site.ID, "v2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant erased from this site: %v", err)
	}
	if !f.stored(other) {
		t.Fatal("a refused erasure deleted a conversation")
	}
}

// TestTranscriptRetentionRetriesAfterTheIndexFails: housekeeping's
// transcript retention removes from the index first too.
func TestTranscriptRetentionRetriesAfterTheIndexFails(t *testing.T) {
	f := newFixture(t)
	a := f.chat("v1", "old chat")
	if err := f.s.Store.SetChatSettings(f.ctx, store.System, f.tenant.ID, json.RawMessage(`{"transcript_retention_days":30}`)); err != nil {
		t.Fatal(err)
	}
	f.s.Chat.CloseSite(f.ctx, f.tenant.ID, f.site.ID)
	later := time.Now().AddDate(0, 0, 31)
	f.ix.failing.Store(true)
	f.s.Housekeep(f.ctx, later)
	if !f.stored(a) {
		t.Fatal("the conversation left the store before the index let it go")
	}
	f.ix.failing.Store(false)
	f.s.Housekeep(f.ctx, later)
	if f.stored(a) || f.indexed() != 0 {
		t.Fatalf("after the next round: stored %v, indexed %d", f.stored(a), f.indexed())
	}
}

// TestHousekeepingSweepsWhatADeletedSiteLeft: events that raced a site's
// deletion (or a deletion cut short by a crash) are removed at the next round.
func TestHousekeepingSweepsWhatADeletedSiteLeft(t *testing.T) {
	f := newFixture(t)
	f.event("v1")
	if err := f.s.Store.DeleteSite(f.ctx, store.System, f.tenant.ID, f.site.ID); err != nil {
		t.Fatal(err)
	}
	other, err := f.s.Store.CreateSite(f.ctx, store.System, store.Site{TenantID: f.tenant.ID, Name: "other", Theme: store.DefaultSiteTheme})
	if err != nil {
		t.Fatal(err)
	}
	f.site = other
	f.event("v2")
	f.s.Housekeep(f.ctx, time.Now())
	if n := f.events(); n != 1 {
		t.Fatalf("%d events left, want the live site's 1", n)
	}
}

// identified records visitor's page view with the site's verified identity user.
func (f *fixture) identified(visitor, user string) {
	f.t.Helper()
	now := time.Now()
	hash := analytics.IdentityHash(f.site.IdentitySecret, user)
	b := &analytics.Batch{Site: f.site.Key, Visitor: visitor, Sent: now.UnixMilli(), Events: []analytics.Event{
		{Type: "pageview", URL: "https://shop.example.com/", TS: now.UnixMilli()},
		{Type: "identify", URL: "https://shop.example.com/", TS: now.UnixMilli(), User: &analytics.Identity{ID: user}, Hash: hash}}}
	if _, err := f.s.Ingest.Accept(f.ctx, &f.site, b, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: now}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Ingest.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

// TestEraseByUserIDErasesTheirChatsOnEveryDevice: a user id erases the chats
// of every browser the site identified them on (through the analytics) and
// every chat whose identity was verified (on a device the analytics never
// linked), open or closed; an unverified claim to the id is not theirs.
func TestEraseByUserIDErasesTheirChatsOnEveryDevice(t *testing.T) {
	f := newFixture(t)
	f.identified("phone", "user-7")
	phone := f.chat("phone", "asked on my phone")
	laptop := f.chatAs("laptop", "user-7", "asked on my laptop")
	f.s.Chat.CloseSite(f.ctx, f.tenant.ID, f.site.ID) // closed ones go too
	tablet := f.chatAs("tablet", "user-7", "still open on my tablet")
	v, _, err := f.s.Chat.Start(f.ctx, f.site, "stranger", chat.Meta{Identity: &chat.Identity{ID: "user-7"}})
	if err != nil {
		t.Fatal(err)
	}
	other := f.chatAs("desk", "user-8", "someone else")
	out, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, "user-7")
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"phone": phone, "laptop": laptop, "tablet": tablet} {
		if f.stored(id) {
			t.Errorf("the %s's chat survived the erasure", name)
		}
	}
	if out.Conversations != 3 || !f.stored(other) || !f.stored(v.Conversation) {
		t.Fatalf("erased %d; another user's kept %v, the unverified claim's kept %v", out.Conversations, f.stored(other), f.stored(v.Conversation))
	}
	if f.events() != 0 {
		t.Fatalf("%d events of the user left", f.events())
	}
}

// TestEraseFindsChatsAnEarlierReleaseStored: conversations stored before
// the identity column existed are read once (housekeeping or the erasure)
// and found by their user id.
func TestEraseFindsChatsAnEarlierReleaseStored(t *testing.T) {
	f := newFixture(t)
	old := f.chatAs("laptop", "user-7", "from last year")
	other := f.chatAs("desk", "user-8", "someone else")
	db := storetest.DB(t, f.s.Store)
	if _, err := db.Exec(`UPDATE conversations SET identity = NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, "user-7"); err != nil {
		t.Fatal(err)
	}
	if f.stored(old) || !f.stored(other) {
		t.Fatalf("the earlier release's chat kept %v, another user's kept %v", f.stored(old), f.stored(other))
	}
	var unread int
	if err := db.QueryRow(`SELECT count(*) FROM conversations WHERE identity IS NULL`).Scan(&unread); err != nil || unread != 0 {
		t.Fatalf("%d conversations left unread (%v)", unread, err)
	}
}

package ops

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nudgehq/nudge/analytics"
	"github.com/nudgehq/nudge/chat"
	"github.com/nudgehq/nudge/store"
)

// identify reports the site's signed identity of visitor with an email and
// a name, as a page does, the hash forged when forged is set.
func (f *fixture) identify(visitor, user, email, name string, forged bool) {
	f.t.Helper()
	now := time.Now()
	hash := analytics.IdentityHash(f.site.IdentitySecret, user)
	if forged {
		hash = analytics.IdentityHash("not the site's secret", user)
	}
	b := &analytics.Batch{Site: f.site.Key, Visitor: visitor, Sent: now.UnixMilli(), Events: []analytics.Event{
		{Type: "pageview", URL: "https://shop.example.com/", TS: now.UnixMilli()},
		{Type: "identify", URL: "https://shop.example.com/", TS: now.UnixMilli(), User: &analytics.Identity{ID: user, Email: email, Name: name}, Hash: hash}}}
	if _, err := f.s.Ingest.Accept(f.ctx, &f.site, b, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: now}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Ingest.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	if err := f.s.Links.Flush(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) linkedVisitors(user string) []string {
	f.t.Helper()
	c, err := f.s.Contacts.ByExternalID(f.ctx, f.tenant.ID, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	vs, err := f.s.Contacts.Visitors(f.ctx, f.tenant.ID, c.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, v := range vs {
		out = append(out, v.Visitor)
	}
	return out
}

// A verified identity from a page or a chat makes the contact and links the
// device; a forged or unverified one links nothing; a bad email from the
// page is dropped, not the link.
func TestVerifiedVisitorsBecomeOneContact(t *testing.T) {
	f := newFixture(t)
	f.identify("phone", "user-7", "jane@example.com", "Jane Roe", false)
	f.identify("stranger", "user-7", "evil@example.com", "Mallory", true)
	f.identify("tablet", "user-9", "not an email\r\nBcc: x@example.com", "Tab", false)
	f.s.Identified(f.site, "laptop", &chat.Identity{ID: "user-7", Name: "Jane R.", Verified: true}, "hash")
	f.s.Identified(f.site, "desk", &chat.Identity{ID: "user-7"}, "hash") // unverified
	if err := f.s.Links.Flush(f.ctx); err != nil {
		t.Fatal(err)
	}
	c, err := f.s.Contacts.ByExternalID(f.ctx, f.tenant.ID, "user-7")
	if err != nil {
		t.Fatal(err)
	}
	if c.Email != "jane@example.com" || c.Name != "Jane R." || c.VerifiedBy != "hash" {
		t.Fatalf("contact %+v", c)
	}
	if vs := f.linkedVisitors("user-7"); len(vs) != 2 || !(vs[0] == "laptop" || vs[1] == "laptop") || !(vs[0] == "phone" || vs[1] == "phone") {
		t.Fatalf("user-7 linked to %v, want phone and laptop", vs)
	}
	tab, err := f.s.Contacts.ByExternalID(f.ctx, f.tenant.ID, "user-9")
	if err != nil || tab.Email != "" || tab.Name != "Tab" {
		t.Fatalf("the contact with a bad email: %+v %v", tab, err)
	}
}

// Erasing a contact erases the visits and chats of every device it was
// verified on, on every site, then the contact; an index failing part-way
// leaves it all findable and the same call again completes it.
func TestEraseContactErasesEverythingLinked(t *testing.T) {
	f := newFixture(t)
	second, err := f.s.Store.CreateSite(f.ctx, store.System, store.Site{TenantID: f.tenant.ID, Name: "help", Theme: store.DefaultSiteTheme})
	if err != nil {
		t.Fatal(err)
	}
	f.identify("phone", "user-7", "jane@example.com", "Jane", false)
	phone := f.chat("phone", "asked on my phone, unverified in the chat")
	laptop := f.chatAs("laptop", "user-7", "asked on my laptop")
	f.s.Identified(f.site, "laptop", &chat.Identity{ID: "user-7", Verified: true}, "hash")
	f.s.Identified(second, "kiosk", &chat.Identity{ID: "user-7", Verified: true}, "hash")
	f.identify("desk", "user-8", "", "", false)
	other := f.chat("desk", "someone else")
	c, err := f.s.Contacts.ByExternalID(f.ctx, f.tenant.ID, "user-7")
	if err != nil {
		t.Fatal(err)
	}
	before := f.events()

	f.ix.failing.Store(true)
	if _, err := f.s.EraseContact(f.ctx, store.System, f.tenant.ID, c.ID); err == nil {
		t.Fatal("the erasure succeeded though the index failed")
	}
	if _, err := f.s.Contacts.Get(f.ctx, f.tenant.ID, c.ID); err != nil {
		t.Fatalf("the contact went before what it links: %v", err)
	}
	f.ix.failing.Store(false)
	out, err := f.s.EraseContact(f.ctx, store.System, f.tenant.ID, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Contacts.Get(f.ctx, f.tenant.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the contact survived: %v", err)
	}
	if f.stored(phone) || f.stored(laptop) || !f.stored(other) {
		t.Fatalf("phone's chat kept %v, laptop's kept %v, another user's kept %v", f.stored(phone), f.stored(laptop), f.stored(other))
	}
	if out.Sites != 2 || out.Events != 2 || f.events() != before-1 {
		t.Fatalf("%+v; %d batches left of %d, want the other user's", out, f.events(), before)
	}
	if vs := f.linkedVisitors("user-8"); len(vs) != 1 {
		t.Fatalf("another contact's links: %v", vs)
	}
	if _, err := f.s.EraseContact(f.ctx, store.System, f.tenant.ID, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("erase a contact twice: %v", err)
	}
}

// The analytics file keeps a verified user id as its fingerprint (an id may
// be an email); ids an earlier release kept in clear are replaced by the
// housekeeping, and erasing by the id in clear finds both.
func TestAnalyticsKeepsUserIDsAsFingerprints(t *testing.T) {
	f := newFixture(t)
	const id = "jane.roe@example.com"
	f.identify("phone", id, "", "", false)
	clear := func() (n int) {
		f.t.Helper()
		var a, b int
		f.s.Analytics.R.QueryRowContext(f.ctx, `SELECT count(*) FROM visits WHERE user_id = ?`, id).Scan(&a)
		f.s.Analytics.R.QueryRowContext(f.ctx, `SELECT count(*) FROM event_log WHERE CAST(data AS TEXT) LIKE '%' || ? || '%'`, id).Scan(&b)
		return a + b
	}
	var kept string
	f.s.Analytics.R.QueryRowContext(f.ctx, `SELECT user_id FROM visits WHERE visitor = 'phone'`).Scan(&kept)
	if clear() != 0 || !strings.HasPrefix(kept, analytics.BlindPrefix) {
		t.Fatalf("the id in clear in %d rows; visits keep %q", clear(), kept)
	}
	// A visit an earlier release stored with the id in clear.
	legacy := &analytics.Batch{Site: f.site.Key, Visitor: "laptop", Visit: "old-visit", Events: []analytics.Event{
		{Type: "pageview", URL: "https://shop.example.com/"}, {Type: "identify", URL: "https://shop.example.com/", User: &analytics.Identity{ID: id},
			Hash: analytics.IdentityHash(f.site.IdentitySecret, id)}}}
	old := analytics.NewIngester(f.s.Analytics, slog.New(slog.NewTextHandler(io.Discard, nil)), analytics.Options{})
	if _, err := old.Accept(f.ctx, &f.site, legacy, analytics.Meta{IP: "192.0.2.1", UserAgent: desktopUA, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	old.Close()
	if clear() != 2 {
		t.Fatalf("the legacy visit: %d rows with the id in clear", clear())
	}
	f.s.Housekeep(f.ctx, time.Now())
	if clear() != 0 {
		t.Fatalf("after housekeeping, %d rows hold the id in clear", clear())
	}
	var users int
	f.s.Analytics.R.QueryRowContext(f.ctx, `SELECT count(DISTINCT user_id) FROM visits WHERE user_id <> ''`).Scan(&users)
	if users != 1 {
		t.Fatalf("%d distinct user ids, want one fingerprint for both devices", users)
	}
	if _, err := f.s.EraseVisitor(f.ctx, store.System, f.tenant.ID, f.site.ID, id); err != nil {
		t.Fatal(err)
	}
	if f.events() != 0 {
		t.Fatalf("%d batches left after erasing the user", f.events())
	}
}

// On a secured site only visitor tokens prove who a visitor is: a page's
// identify hash, which never expires (a copied one works for ever), links
// no contact; analytics still counts the visit as identified.
func TestASecuredSiteLinksNoContactFromAHash(t *testing.T) {
	f := newFixture(t)
	f.site.Settings.Chat, f.site.Settings.SecuredChat = true, true
	f.identify("v-secured", "user-secured", "s@example.com", "S", false)
	if vs := f.linkedVisitors("user-secured"); len(vs) != 0 {
		t.Fatalf("a hash on a secured site linked %v", vs)
	}
}

package contacts

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

type fixture struct {
	dir    string
	st     *store.Store
	book   *Book
	tenant store.Tenant
	site   store.Site
	site2  store.Site
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	st, err := store.Open(ctx, storetest.Path(t, f.dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	master := make([]byte, keys.MasterSize)
	rand.Read(master)
	ring, err := keys.NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	f.st, f.book = st, New(st, ring)
	f.tenant, _ = st.CreateTenant(ctx, store.System, "Shop")
	for _, s := range []*store.Site{&f.site, &f.site2} {
		if *s, err = st.CreateSite(ctx, store.System, store.Site{TenantID: f.tenant.ID, Name: "shop", Theme: store.DefaultSiteTheme}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) link(t *testing.T, ss ...Sighting) []Contact {
	t.Helper()
	cs, err := f.book.Link(context.Background(), ss...)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// One person on a laptop and a phone, and on a second site of the tenant, is
// one contact: what each sighting adds is merged, the devices are linked.
func TestSightingsOfOneIdentityMakeOneContact(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	f.link(t, Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "laptop", ExternalID: "user-42", Name: "Jane Roe",
		Attributes: map[string]string{"plan": "green", "region": "north"}, VerifiedBy: "hash", At: t0})
	f.link(t, Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "phone", ExternalID: "user-42", Email: "jane@example.com",
		Attributes: map[string]string{"plan": "blue", "region": ""}, VerifiedBy: "token", At: t0.Add(time.Hour)})
	// An older sighting arriving late moves first_seen, not last_seen.
	f.link(t, Sighting{Tenant: f.tenant.ID, Site: f.site2.ID, Visitor: "laptop", ExternalID: "user-42", VerifiedBy: "hash", At: t0.Add(-time.Hour)})

	c, err := f.book.ByExternalID(ctx, f.tenant.ID, "user-42")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Jane Roe" || c.Email != "jane@example.com" || c.VerifiedBy != "token" ||
		!c.FirstSeen.Equal(t0.Add(-time.Hour)) || !c.LastSeen.Equal(t0.Add(time.Hour)) {
		t.Fatalf("contact %+v", c)
	}
	if len(c.Attributes) != 1 || c.Attributes["plan"] != "blue" {
		t.Fatalf("attributes %v, want plan=blue (region removed by its empty value)", c.Attributes)
	}
	vs, err := f.book.Visitors(ctx, f.tenant.ID, c.ID)
	if err != nil || len(vs) != 3 {
		t.Fatalf("visitors %v %v, want laptop and phone on the site, laptop on the second", vs, err)
	}
	for _, v := range []struct{ site, visitor string }{{f.site.ID, "laptop"}, {f.site.ID, "phone"}, {f.site2.ID, "laptop"}} {
		got, err := f.book.OfVisitor(ctx, f.tenant.ID, v.site, v.visitor)
		if err != nil || got.ID != c.ID {
			t.Fatalf("the contact of %v: %+v %v", v, got, err)
		}
	}
	if _, err := f.book.OfVisitor(ctx, f.tenant.ID, f.site.ID, "stranger"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unlinked visitor's contact: %v", err)
	}
	list, next, err := f.book.List(ctx, f.tenant.ID, store.Page{})
	if err != nil || len(list) != 1 || next != "" {
		t.Fatalf("list %v %q %v", list, next, err)
	}
}

// No file of the data folder holds a contact's external id, email or name
// in clear.
func TestContactsAreSealedAtRest(t *testing.T) {
	f := newFixture(t)
	secret := []string{"ext-7f3a9c-secret", "jane.roe.sealed@example.com", "Janet Sealedname", "loyalty-gold-tier"}
	f.link(t, Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "v1", ExternalID: secret[0], Email: secret[1], Name: secret[2],
		Attributes: map[string]string{"tier": secret[3]}, VerifiedBy: "hash"})
	if c, err := f.book.ByExternalID(context.Background(), f.tenant.ID, secret[0]); err != nil || c.Email != secret[1] {
		t.Fatalf("the contact does not open: %+v %v", c, err)
	}
	f.st.Close()
	kept := storetest.AtRest(t, f.st, f.dir)
	if len(kept) == 0 {
		t.Fatal("nothing at rest")
	}
	for name, b := range kept {
		for _, s := range secret {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("%s holds %q in clear", name, s)
			}
		}
	}
}

func TestBadSightingsChangeNothing(t *testing.T) {
	f := newFixture(t)
	ok := Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "v", ExternalID: "u1", VerifiedBy: "hash"}
	many := map[string]string{}
	for i := range MaxAttributes + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for name, s := range map[string]Sighting{
		"no external id":        {Tenant: f.tenant.ID, Site: f.site.ID, VerifiedBy: "hash"},
		"oversized external id": {Tenant: f.tenant.ID, ExternalID: strings.Repeat("x", MaxExternalID+1), VerifiedBy: "hash"},
		"unverified":            {Tenant: f.tenant.ID, ExternalID: "u2"},
		"header injection":      {Tenant: f.tenant.ID, ExternalID: "u2", Email: "a@b.co\r\nBcc: all@example.com", VerifiedBy: "hash"},
		"not an email":          {Tenant: f.tenant.ID, ExternalID: "u2", Email: "nobody", VerifiedBy: "hash"},
		"oversized name":        {Tenant: f.tenant.ID, ExternalID: "u2", Name: strings.Repeat("n", MaxName+1), VerifiedBy: "hash"},
		"too many attributes":   {Tenant: f.tenant.ID, ExternalID: "u2", Attributes: many, VerifiedBy: "hash"},
		"oversized attribute":   {Tenant: f.tenant.ID, ExternalID: "u2", Attributes: map[string]string{"k": strings.Repeat("v", MaxAttrValue+1)}, VerifiedBy: "hash"},
		"invalid UTF-8":         {Tenant: f.tenant.ID, ExternalID: "u\xff2", VerifiedBy: "hash"},
	} {
		// In a batch with a good sighting: the batch is refused whole.
		if _, err := f.book.Link(context.Background(), ok, s); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if list, _, _ := f.book.List(context.Background(), f.tenant.ID, store.Page{}); len(list) != 0 {
		t.Fatalf("refused sightings stored %d contacts", len(list))
	}
	// Control characters in a name become spaces.
	c := f.link(t, Sighting{Tenant: f.tenant.ID, ExternalID: "u3", Name: "Jane\r\nBcc: x", VerifiedBy: "hash"})[0]
	if c.Name != "Jane  Bcc: x" {
		t.Fatalf("name %q", c.Name)
	}
}

// A tenant never sees another's contact, though the external ids match.
func TestContactsBelongToTheirTenant(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, _ := f.st.CreateTenant(ctx, store.System, "Other")
	a := f.link(t, Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "v", ExternalID: "same", Name: "A", VerifiedBy: "hash"})[0]
	// A sighting naming another tenant's site links no visitor to it.
	b := f.link(t, Sighting{Tenant: other.ID, Site: f.site.ID, Visitor: "v", ExternalID: "same", Name: "B", VerifiedBy: "hash"})[0]
	if a.ID == b.ID {
		t.Fatal("two tenants share a contact")
	}
	if _, err := f.book.Get(ctx, other.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's contact: %v", err)
	}
	if vs, _ := f.book.Visitors(ctx, other.ID, b.ID); len(vs) != 0 {
		t.Fatalf("a contact linked to another tenant's site: %v", vs)
	}
	if err := f.book.Delete(ctx, store.System, other.ID, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("delete another tenant's contact: %v", err)
	}
	if err := f.book.Delete(ctx, store.System, f.tenant.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.OfVisitor(ctx, f.tenant.ID, f.site.ID, "v"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a deleted contact's visitor still linked: %v", err)
	}
}

// Sightings in any order, from many goroutines at once, through the
// linker: each external id is one contact, linked to exactly the visitors
// it was seen on, first seen the earliest sighting and last seen the latest
// within a minute (repeats within a minute are not written).
func TestLinkerKeepsOneContactPerIdentityInAnyOrder(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := NewLinker(f.book, slog.New(slog.NewTextHandler(io.Discard, nil)), 10_000)
	defer l.Close()
	type want struct {
		visitors    map[string]bool
		first, last time.Time
	}
	wants := map[string]*want{}
	var mu sync.Mutex
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(uint64(g), 7))
			for range 200 {
				ext, visitor := fmt.Sprint("user-", r.IntN(20)), fmt.Sprint("device-", r.IntN(50))
				at := t0.Add(time.Duration(r.IntN(1_000_000)) * time.Millisecond)
				mu.Lock()
				w := wants[ext]
				if w == nil {
					w = &want{visitors: map[string]bool{}, first: at, last: at}
					wants[ext] = w
				}
				w.visitors[visitor] = true
				if at.Before(w.first) {
					w.first = at
				}
				if at.After(w.last) {
					w.last = at
				}
				mu.Unlock()
				l.See(Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: visitor, ExternalID: ext, Name: "N " + ext, VerifiedBy: "hash", At: at})
			}
		}()
	}
	wg.Wait()
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Dropped.Load() != 0 || l.Failed.Load() != 0 {
		t.Fatalf("%d dropped, %d failed", l.Dropped.Load(), l.Failed.Load())
	}
	list, _, err := f.book.List(ctx, f.tenant.ID, store.Page{Limit: 100})
	if err != nil || len(list) != len(wants) {
		t.Fatalf("%d contacts for %d identities: %v", len(list), len(wants), err)
	}
	for _, c := range list {
		w := wants[c.ExternalID]
		// Last seen is at most a minute behind: a visitor seen again within
		// a minute of a queued sighting is not written again (Linker.See).
		if w == nil || !c.FirstSeen.Equal(w.first) || c.LastSeen.After(w.last) || w.last.Sub(c.LastSeen) >= refreshEvery || c.Name != "N "+c.ExternalID {
			t.Fatalf("contact %+v, want %+v", c, w)
		}
		vs, _ := f.book.Visitors(ctx, f.tenant.ID, c.ID)
		if len(vs) != len(w.visitors) {
			t.Fatalf("%s linked to %d visitors, want %d", c.ExternalID, len(vs), len(w.visitors))
		}
		for _, v := range vs {
			if !w.visitors[v.Visitor] {
				t.Fatalf("%s linked to %s, never seen there", c.ExternalID, v.Visitor)
			}
		}
	}
	// A bad sighting in the queue costs only itself.
	l.See(Sighting{Tenant: f.tenant.ID, ExternalID: "", VerifiedBy: "hash"})
	l.See(Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "late", ExternalID: "user-late", VerifiedBy: "hash"})
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.book.ByExternalID(ctx, f.tenant.ID, "user-late"); err != nil || l.Failed.Load() != 1 {
		t.Fatalf("the good sighting beside a bad one: %v, %d failed", err, l.Failed.Load())
	}
}

// Close stores what is queued; afterwards sightings are ignored and Flush
// says the linker is closed.
func TestLinkerCloseStoresWhatIsQueued(t *testing.T) {
	f := newFixture(t)
	l := NewLinker(f.book, slog.New(slog.NewTextHandler(io.Discard, nil)), 100)
	for i := range 30 {
		l.See(Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "v", ExternalID: fmt.Sprint("u", i), VerifiedBy: "hash"})
	}
	l.Close()
	l.Close()
	l.See(Sighting{Tenant: f.tenant.ID, ExternalID: "after", VerifiedBy: "hash"})
	if err := l.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("flush after close: %v", err)
	}
	list, _, _ := f.book.List(context.Background(), f.tenant.ID, store.Page{Limit: 100})
	if len(list) != 30 {
		t.Fatalf("%d of 30 contacts stored at close", len(list))
	}
}

// A visitor's page identifies them on every view: what says nothing new
// within a minute is not written again; a change is, at once, and so is the
// next sighting after a minute or a Flush.
func TestLinkerSkipsRepeatedSightings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := NewLinker(f.book, slog.New(slog.NewTextHandler(io.Discard, nil)), 100)
	defer l.Close()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	see := func(at time.Time, name string) Contact {
		t.Helper()
		l.See(Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "v", ExternalID: "u", Name: name, VerifiedBy: "hash", At: at})
		// Wait for the writer without Flush, which would forget the repeats.
		l.See(Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: "marker", ExternalID: fmt.Sprint("m", at.UnixNano(), name), VerifiedBy: "hash", At: at})
		for {
			if _, err := f.book.ByExternalID(ctx, f.tenant.ID, fmt.Sprint("m", at.UnixNano(), name)); err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		c, err := f.book.ByExternalID(ctx, f.tenant.ID, "u")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := see(t0, "Ann"); !c.LastSeen.Equal(t0) {
		t.Fatalf("first sighting: %v", c.LastSeen)
	}
	if c := see(t0.Add(30*time.Second), "Ann"); !c.LastSeen.Equal(t0) {
		t.Fatalf("a repeat within the minute was written: %v", c.LastSeen)
	}
	if c := see(t0.Add(40*time.Second), "Ann B."); c.Name != "Ann B." || !c.LastSeen.Equal(t0.Add(40*time.Second)) {
		t.Fatalf("a change waited: %+v", c)
	}
	if c := see(t0.Add(101*time.Second), "Ann B."); !c.LastSeen.Equal(t0.Add(101 * time.Second)) {
		t.Fatalf("a sighting a minute later was skipped: %v", c.LastSeen)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c := see(t0.Add(102*time.Second), "Ann B."); !c.LastSeen.Equal(t0.Add(102 * time.Second)) {
		t.Fatalf("after Flush, a repeat was skipped: %v", c.LastSeen)
	}
}

// The list pages through every contact once, the last seen first, ties by
// id; a cursor of another tenant's contact is refused.
func TestContactListPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	var ss []Sighting
	for i := range 23 {
		// Pairs seen at the same time: the order must still be total.
		ss = append(ss, Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: fmt.Sprint("v", i), ExternalID: fmt.Sprint("u", i),
			VerifiedBy: "hash", At: t0.Add(time.Duration(i/2) * time.Minute)})
	}
	f.link(t, ss...)
	seen := map[string]bool{}
	var last time.Time
	after := ""
	for pages := 0; ; pages++ {
		list, next, err := f.book.List(ctx, f.tenant.ID, store.Page{Limit: 5, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if seen[c.ID] {
				t.Fatalf("%s listed twice", c.ExternalID)
			}
			if !last.IsZero() && c.LastSeen.After(last) {
				t.Fatalf("%s (%v) after one seen at %v", c.ExternalID, c.LastSeen, last)
			}
			seen[c.ID], last = true, c.LastSeen
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("the cursor does not advance")
		}
		after = next
	}
	if len(seen) != 23 {
		t.Fatalf("%d of 23 contacts listed", len(seen))
	}
	other, _ := f.st.CreateTenant(ctx, store.System, "Other")
	foreign := ""
	for id := range seen {
		foreign = id
		break
	}
	if _, _, err := f.book.List(ctx, other.ID, store.Page{Limit: 5, After: foreign}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another tenant's cursor: %v", err)
	}
}

// A sighting that finds the queue full is dropped and counted, never
// waited for; the visitor's next sighting is stored, though it says nothing
// new.
func TestLinkerDropsOnAFullQueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	l := NewLinker(f.book, slog.New(slog.NewTextHandler(io.Discard, nil)), 1)
	defer l.Close()
	hold, held := make(chan struct{}), make(chan struct{})
	go f.st.Write(ctx, func(*store.Tx) error { close(held); <-hold; return nil }) // the store's writer, busy
	<-held
	sight := func(i int) Sighting {
		return Sighting{Tenant: f.tenant.ID, Site: f.site.ID, Visitor: fmt.Sprint("v", i), ExternalID: fmt.Sprint("u", i), VerifiedBy: "hash"}
	}
	dropped := -1
	for i := 0; i < 1000 && dropped < 0; i++ {
		l.See(sight(i))
		if l.Dropped.Load() > 0 {
			dropped = i
		}
	}
	if dropped < 0 {
		t.Fatal("a full queue took every sighting")
	}
	close(hold)
	waitFor := func(ext string) {
		t.Helper()
		for {
			if _, err := f.book.ByExternalID(ctx, f.tenant.ID, ext); err == nil {
				return
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(fmt.Sprint("u", dropped-1)) // the last one queued
	if _, err := f.book.ByExternalID(ctx, f.tenant.ID, fmt.Sprint("u", dropped)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the dropped sighting was stored: %v", err)
	}
	l.See(sight(dropped))
	waitFor(fmt.Sprint("u", dropped))
}

// TestContactsAreFoundByTheWordsOfWhoTheyAre: a name's words, an email, its
// domain or local part, an external id; every word typed must match; another
// tenant's contacts are not found; a contact made before contacts had
// search terms is indexed by IndexUnindexed.
func TestContactsAreFoundByTheWordsOfWhoTheyAre(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	link := func(tenant, site, id, email, name string) {
		if _, err := f.book.Link(ctx, Sighting{Tenant: tenant, Site: site, Visitor: "v-" + id, ExternalID: id, Email: email, Name: name, VerifiedBy: "hash", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	link(f.tenant.ID, f.site.ID, "cust-1", "ada.lovelace@example.com", "Ada Lovelace")
	link(f.tenant.ID, f.site.ID, "cust-2", "grace@navy.example", "Grace Hopper")
	link(f.tenant.ID, f.site.ID, "cust-3", "ada@other.example", "Ada King")
	other, _ := f.st.CreateTenant(ctx, store.System, "Other")
	osite, _ := f.st.CreateSite(ctx, store.System, store.Site{TenantID: other.ID, Name: "o", Theme: store.DefaultSiteTheme})
	link(other.ID, osite.ID, "cust-9", "ada@elsewhere.example", "Ada Elsewhere")

	found := func(q string) []string {
		cs, err := f.book.Search(ctx, f.tenant.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ExternalID)
		}
		slices.Sort(ids)
		return ids
	}
	for q, want := range map[string][]string{
		"ada":                {"cust-1", "cust-3"},
		"ADA lovelace":       {"cust-1"},
		"grace@navy.example": {"cust-2"},
		"navy.example":       {"cust-2"},
		"cust-2":             {"cust-2"},
		"ada.lovelace":       {"cust-1"},
		"ada hopper":         nil,
		"elsewhere":          nil,
		"":                   nil,
		"lov":                nil, // whole words, not prefixes
	} {
		if got := found(q); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
	// A change of name finds the new name, not the old.
	link(f.tenant.ID, f.site.ID, "cust-2", "", "Grace Brewster")
	if got := found("hopper"); got != nil {
		t.Errorf("the old name still finds: %v", got)
	}
	if got := found("brewster"); !slices.Equal(got, []string{"cust-2"}) {
		t.Errorf("the new name: %v", got)
	}

	// Contacts of an earlier release, without terms, are indexed later.
	db := storetest.DB(t, f.st)
	if _, err := db.Exec(`DELETE FROM contact_terms`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE contacts SET terms_at = NULL`); err != nil {
		t.Fatal(err)
	}
	if got := found("ada"); got != nil {
		t.Fatalf("without terms: %v", got)
	}
	n, err := f.book.IndexUnindexed(ctx, 500)
	if err != nil || n != 4 {
		t.Fatalf("indexed %d: %v", n, err)
	}
	if got := found("ada"); !slices.Equal(got, []string{"cust-1", "cust-3"}) {
		t.Fatalf("after indexing: %v", got)
	}
	if n, _ := f.book.IndexUnindexed(ctx, 500); n != 0 {
		t.Fatalf("indexed again: %d", n)
	}
}

package chat

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudgehq/nudge/keys"
	"github.com/nudgehq/nudge/store"
	"github.com/nudgehq/nudge/store/storetest"
)

type fixture struct {
	st   *store.Store
	log  *Log
	a, b store.Tenant
	conv []store.Conversation // of tenant a
	path string               // the store's file or database URL
	dir  string               // the data folder
}

func newFixture(t testing.TB, conversations int) *fixture {
	return newFixtureWith(t, conversations, store.Options{})
}

func newFixtureWith(t testing.TB, conversations int, o store.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := storetest.Path(t, dir)
	st, err := store.OpenWith(ctx, path, o)
	if err != nil {
		t.Fatal(err)
	}
	master := make([]byte, keys.MasterSize)
	rand.Read(master)
	ring, err := keys.NewRing(ctx, master, st)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, log: NewLog(st, ring, nil), path: path, dir: dir}
	t.Cleanup(func() { f.log.Close(); st.Close() })
	f.a, _ = st.CreateTenant(ctx, store.System, "A")
	f.b, _ = st.CreateTenant(ctx, store.System, "B")
	site, err := st.CreateSite(ctx, store.System, store.Site{TenantID: f.a.ID, Name: "shop", Theme: store.DefaultSiteTheme})
	if err != nil {
		t.Fatal(err)
	}
	for i := range conversations {
		c, err := st.CreateConversation(ctx, store.Conversation{TenantID: f.a.ID, SiteID: site.ID, Visitor: fmt.Sprint("visitor", i)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		f.conv = append(f.conv, c)
	}
	return f
}

func visitor(c store.Conversation) Sender { return Sender{Kind: "visitor", ID: c.Visitor} }

// Many senders at once: every message is acknowledged with a sequence number,
// and each conversation's numbers run 1..n with no gap and no repeat.
func TestAppendGivesContiguousSequences(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string][]int64{}
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				c := f.conv[(g+i)%len(f.conv)]
				m, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: fmt.Sprintf("g%d-%d", g, i), Text: fmt.Sprintf("hello %d %d", g, i)})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[c.ID] = append(acked[c.ID], m.Seq)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, c := range f.conv {
		msgs, err := f.log.Since(ctx, f.a.ID, c.ID, 0, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("conversation %s: message %d has seq %d", c.ID, i, m.Seq)
			}
		}
		if len(msgs) != len(acked[c.ID]) {
			t.Fatalf("conversation %s: %d stored, %d acknowledged", c.ID, len(msgs), len(acked[c.ID]))
		}
		conv, _ := f.st.Conversation(ctx, f.a.ID, c.ID)
		if conv.LastSeq != int64(len(msgs)) {
			t.Fatalf("last_seq %d; want %d", conv.LastSeq, len(msgs))
		}
		total += len(msgs)
	}
	if total != 1000 {
		t.Fatalf("%d messages stored; want 1000", total)
	}
}

func TestResendReturnsTheOriginal(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	c := f.conv[0]
	first, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-1", Text: "first try"})
	if err != nil {
		t.Fatal(err)
	}
	f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-2", Text: "second"})
	again, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-1", Text: "first try, resent"})
	if err != nil || again.Seq != first.Seq || again.ID != first.ID || again.Text != "first try" {
		t.Fatalf("resend = %+v, %v; want the original %+v", again, err, first)
	}
	// The same client id from another sender is another message.
	other, _ := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: Sender{Kind: "agent", ID: "u1"}, ClientID: "c-1", Text: "agent"})
	if other.Seq != 3 {
		t.Fatalf("agent message seq %d; want 3", other.Seq)
	}
	// A resend queued behind its original (one commit for both) is found too,
	// and the seq it did not take goes to the next message.
	hold := make(chan struct{})
	f.log.Do("", func(*store.Tx) error { <-hold; return nil }) // the three queue behind it
	p1, _ := f.log.Queue(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-3", Text: "third"})
	p2, _ := f.log.Queue(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-3", Text: "third, resent at once"})
	p3, _ := f.log.Queue(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), ClientID: "c-4", Text: "fourth"})
	close(hold)
	m1, err1 := p1.Wait(ctx)
	m2, err2 := p2.Wait(ctx)
	m3, err3 := p3.Wait(ctx)
	if err1 != nil || err2 != nil || err3 != nil || m1.Seq != 4 || m2.Seq != 4 || m2.ID != m1.ID || m2.Text != "third" || m3.Seq != 5 {
		t.Fatalf("queued resend: %+v %v, %+v %v, %+v %v; want seqs 4, 4 (the original) and 5", m1, err1, m2, err2, m3, err3)
	}
	msgs, _ := f.log.Since(ctx, f.a.ID, c.ID, 0, 100, false)
	if len(msgs) != 5 || msgs[4].Seq != 5 {
		t.Fatalf("%d messages stored; want 5, contiguous", len(msgs))
	}
	if got, _ := f.st.Conversation(ctx, f.a.ID, c.ID); got.LastSeq != 5 {
		t.Fatalf("conversation last seq %d; want 5", got.LastSeq)
	}
}

// Message bodies are redacted, then sealed: neither the marker nor the card
// number is anywhere in the database files, and the card never comes back.
func TestBodiesAreRedactedAndEncryptedAtRest(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	c := f.conv[0]
	m, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "ZEBRA-MARKER-42 pay with 4111 1111 1111 1111 ok"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.Text, "4111") || !strings.Contains(m.Text, "ZEBRA-MARKER-42") {
		t.Fatalf("acknowledged text %q", m.Text)
	}
	got, _ := f.log.Since(ctx, f.a.ID, c.ID, 0, 10, false)
	if len(got) != 1 || got[0].Text != m.Text {
		t.Fatalf("read back %+v", got)
	}
	for name, b := range storetest.AtRest(t, f.st, f.dir) {
		for _, secret := range []string{"ZEBRA-MARKER-42", "4111 1111", "4111111111111111"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%q is in %s", secret, name)
			}
		}
	}
}

func TestBadMessagesAndOtherTenants(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	c := f.conv[0]
	for name, m := range map[string]Message{
		"empty":        {Text: "   "},
		"too long":     {Text: strings.Repeat("é", MaxText+1)},
		"invalid UTF8": {Text: "a\xffb"},
		"unknown kind": {Text: "x", Kind: "html"},
		"long id":      {Text: "x", ClientID: strings.Repeat("c", 65)},
	} {
		m.ConversationID, m.Sender = c.ID, visitor(c)
		if _, err := f.log.Append(ctx, f.a.ID, m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", name, err)
		}
	}
	if _, err := f.log.Append(ctx, f.b.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "hijack"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("append from another tenant: %v; want ErrNotFound", err)
	}
	// Once the log knows the conversation's seq, the tenant is still checked.
	other := newFixture(t, 1)
	if _, err := other.log.Append(ctx, other.a.ID, Message{ConversationID: other.conv[0].ID, Sender: visitor(other.conv[0]), Text: "mine"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.log.Append(ctx, other.b.ID, Message{ConversationID: other.conv[0].ID, Sender: visitor(other.conv[0]), Text: "hijack"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("append from another tenant after a message: %v; want ErrNotFound", err)
	}
	if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: "nope", Sender: visitor(c), Text: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("append to an unknown conversation: %v", err)
	}
	if msgs, err := f.log.Since(ctx, f.b.ID, c.ID, 0, 10, false); err != nil || len(msgs) != 0 {
		t.Errorf("another tenant reads %d messages (%v)", len(msgs), err)
	}
	if msgs, _ := f.log.Since(ctx, f.a.ID, c.ID, 0, 10, false); len(msgs) != 0 {
		t.Errorf("%d messages stored after refusals", len(msgs))
	}
	if _, err := f.st.CreateConversation(ctx, store.Conversation{TenantID: f.b.ID, SiteID: c.SiteID, Visitor: "v"}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a conversation on another tenant's site: %v", err)
	}
}

// The log knows each conversation's last seq (a message is one insert), and
// copes when that knowledge is wrong: a conversation deleted meanwhile is
// not found, without failing the messages committed with it; a seq another
// writer took is read again; seqs taken by a change that failed are free.
// Each case alone (a commit of one statement) and in a group commit.
func TestSeqsTheLogDoesNotKnow(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	gone, c := f.conv[0], f.conv[1]
	send := func(cv store.Conversation, text string) (Message, error) {
		return f.log.Append(ctx, f.a.ID, Message{ConversationID: cv.ID, Sender: visitor(cv), Text: text})
	}
	// group queues the messages behind a held change, so that they commit
	// together, and waits for them.
	group := func(ms ...Message) ([]Message, []error) {
		hold := make(chan struct{})
		f.log.Do("", func(*store.Tx) error { <-hold; return nil })
		var ps []*Pending
		for _, m := range ms {
			p, err := f.log.Queue(ctx, f.a.ID, m)
			if err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
		close(hold)
		out, errs := make([]Message, len(ps)), make([]error, len(ps))
		for i, p := range ps {
			out[i], errs[i] = p.Wait(ctx)
		}
		return out, errs
	}
	msg := func(cv store.Conversation, text string) Message {
		return Message{ConversationID: cv.ID, Sender: visitor(cv), Text: text}
	}
	for _, cv := range f.conv {
		if _, err := send(cv, "first"); err != nil {
			t.Fatal(err)
		}
	}

	if err := f.st.DeleteConversations(ctx, f.a.ID, []string{gone.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := send(gone, "to a deleted conversation"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("alone, to a deleted conversation: %v; want ErrNotFound", err)
	}
	got, errs := group(msg(c, "second"), msg(gone, "again"), msg(c, "third"))
	if errs[0] != nil || errs[2] != nil || got[0].Seq != 2 || got[2].Seq != 3 || !errors.Is(errs[1], store.ErrNotFound) {
		t.Fatalf("grouped with a deleted conversation: %+v %v; want seqs 2, 3 and ErrNotFound", got, errs)
	}

	// Another writer (a second store on the file) takes seqs 4 and 5.
	other, err := store.Open(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range 2 {
		m := &store.MessageAppend{TenantID: f.a.ID, ConversationID: c.ID, SenderKind: "agent", SenderID: "u1", Kind: KindText,
			Seal: func(seq int64) ([]byte, error) {
				return f.log.ring.Seal(ctx, f.a.ID, []byte("by another"), ad(c.ID, seq))
			}}
		if i == 0 {
			err = other.AppendMessage(ctx, m)
		} else {
			err = other.AppendMessages(ctx, []*store.MessageAppend{m})
		}
		if err != nil || m.Err != nil || m.Seq != int64(4+i) {
			t.Fatalf("the other writer: %v %v seq %d", err, m.Err, m.Seq)
		}
	}
	if m, err := send(c, "after the other writer"); err != nil || m.Seq != 6 {
		t.Fatalf("alone, after another writer: seq %d, %v; want 6", m.Seq, err)
	}
	m := &store.MessageAppend{TenantID: f.a.ID, ConversationID: c.ID, SenderKind: "agent", SenderID: "u1", Kind: KindText,
		Seal: func(seq int64) ([]byte, error) {
			return f.log.ring.Seal(ctx, f.a.ID, []byte("by another"), ad(c.ID, seq))
		}}
	if err := other.AppendMessage(ctx, m); err != nil || m.Seq != 7 {
		t.Fatalf("the other writer: %v seq %d", err, m.Seq)
	}
	got, errs = group(msg(c, "grouped after the other writer"), msg(f.conv[2], "second"))
	if errs[0] != nil || errs[1] != nil || got[0].Seq != 8 || got[1].Seq != 2 {
		t.Fatalf("grouped, after another writer: %+v %v; want seqs 8 and 2", got, errs)
	}

	// A change that appends, then fails, gives its seq back.
	hold := make(chan struct{})
	f.log.Do("", func(*store.Tx) error { <-hold; return nil })
	f.log.Do("", func(tx *store.Tx) error {
		m := &store.MessageAppend{TenantID: f.a.ID, ConversationID: c.ID, SenderKind: "system", SenderID: "x", Kind: KindText,
			Seal: func(int64) ([]byte, error) { return []byte("x"), nil }}
		if err := tx.AppendMessages([]*store.MessageAppend{m}); err != nil || m.Seq != 9 {
			t.Errorf("append in a change: %v seq %d", err, m.Seq)
		}
		return errors.New("the change fails")
	})
	p, _ := f.log.Queue(ctx, f.a.ID, msg(c, "after a failed change"))
	close(hold)
	if m, err := p.Wait(ctx); err != nil || m.Seq != 9 {
		t.Fatalf("after a failed change: seq %d, %v; want 9", m.Seq, err)
	}

	msgs, err := f.log.Since(ctx, f.a.ID, c.ID, 0, 100, false)
	if err != nil || len(msgs) != 9 {
		t.Fatalf("%d messages (%v); want 9", len(msgs), err)
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
	}
	if conv, _ := f.st.Conversation(ctx, f.a.ID, c.ID); conv.LastSeq != 9 || !conv.UpdatedAt.Equal(msgs[8].CreatedAt) {
		t.Fatalf("conversation last_seq %d updated %s; want 9 and the last message's time %s", conv.LastSeq, conv.UpdatedAt, msgs[8].CreatedAt)
	}
}

func TestCloseCommitsWhatWasAccepted(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	c := f.conv[0]
	var wg sync.WaitGroup
	var acked sync.Map
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: fmt.Sprint(i)}); err == nil {
				acked.Store(m.Seq, true)
			} else if !errors.Is(err, ErrClosed) {
				t.Error(err)
			}
		}()
	}
	f.log.Close()
	wg.Wait()
	msgs, _ := f.log.Since(ctx, f.a.ID, c.ID, 0, 1000, false)
	n := 0
	acked.Range(func(k, _ any) bool { n++; return true })
	if len(msgs) != n {
		t.Fatalf("%d acknowledged, %d stored", n, len(msgs))
	}
}

// Replay reads every tenant's messages back, decrypted and in order within
// each conversation, across pages, from a point in time.
func TestReplayReadsBackCommittedMessages(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	site, err := f.st.CreateSite(ctx, store.System, store.Site{TenantID: f.b.ID, Name: "b shop", Theme: store.DefaultSiteTheme})
	if err != nil {
		t.Fatal(err)
	}
	other, err := f.st.CreateConversation(ctx, store.Conversation{TenantID: f.b.ID, SiteID: site.ID, Visitor: "vb"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	send := func(round, n int) {
		for i := range n {
			c := f.conv[i%3]
			tenant := f.a.ID
			if i%4 == 3 {
				c, tenant = other, f.b.ID
			}
			if _, err := f.log.Append(ctx, tenant, Message{ConversationID: c.ID, Sender: visitor(c), Text: fmt.Sprintf("round %d message %d", round, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	send(1, 620)
	time.Sleep(5 * time.Millisecond)
	mid := time.Now()
	time.Sleep(5 * time.Millisecond)
	send(2, 10)

	read := func(since time.Time) map[string][]Message {
		got := map[string][]Message{}
		err := f.log.Replay(ctx, since, func(tenant string, ms []Message) error {
			for _, m := range ms {
				if (m.ConversationID == other.ID) != (tenant == f.b.ID) {
					t.Fatalf("message of %s given as tenant %s's", m.ConversationID, tenant)
				}
				got[m.ConversationID] = append(got[m.ConversationID], m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := read(time.Time{})
	total := 0
	for conv, ms := range all {
		for i, m := range ms {
			if m.Seq != int64(i+1) || !strings.HasPrefix(m.Text, "round ") {
				t.Fatalf("%s #%d: seq %d %q", conv, i, m.Seq, m.Text)
			}
		}
		total += len(ms)
	}
	if total != 630 || len(all) != 4 {
		t.Fatalf("%d messages in %d conversations; want 630 in 4", total, len(all))
	}
	late := 0
	for _, ms := range read(mid) {
		for _, m := range ms {
			if !strings.HasPrefix(m.Text, "round 2 ") {
				t.Fatalf("read back from before since: %q", m.Text)
			}
			late++
		}
	}
	if late != 10 {
		t.Fatalf("%d messages since mid; want 10", late)
	}
}

// TestShownWhileCommitted: a message whose conversation's seq is known
// reaches its readers as its commit begins, before the sender's ack; one
// the commit refuses, finds to be a resend or numbers again is taken back;
// a resend the client marks as one, and a conversation's first message
// since the start, are shown once committed.
func TestShownWhileCommitted(t *testing.T) {
	f := newFixture(t, 3)
	ctx := context.Background()
	seen := make(chan string, 100)
	f.log.shown = func(_ string, m Message) []Sink {
		seen <- fmt.Sprintf("shown %d %s", m.Seq, m.Text)
		return []Sink{}
	}
	f.log.retracted = func(_ string, m Message, _ []Sink) { seen <- fmt.Sprintf("retracted %d %s", m.Seq, m.Text) }
	f.log.committed = func(_ string, m Message, shownTo []Sink) []Sink {
		seen <- fmt.Sprintf("committed %d %s %v", m.Seq, m.Text, shownTo != nil)
		return shownTo
	}
	expect := func(want ...string) {
		t.Helper()
		for _, w := range want {
			if got := <-seen; got != w {
				t.Fatalf("got %q; want %q", got, w)
			}
		}
		select {
		case got := <-seen:
			t.Fatalf("then %q; want nothing more", got)
		default:
		}
	}
	c, gone := f.conv[0], f.conv[1]
	msg := func(cv store.Conversation, client, text string) Message {
		return Message{ConversationID: cv.ID, Sender: visitor(cv), ClientID: client, Text: text}
	}
	send := func(m Message) (Message, error) { return f.log.Append(ctx, f.a.ID, m) }

	if m, err := send(msg(c, "a", "first")); err != nil || m.Seq != 1 {
		t.Fatalf("first: %+v %v", m, err)
	}
	expect("committed 1 first false")

	// A message queued while a commit runs is shown at once; its sender
	// waits for the commit after that one.
	running, hold := make(chan struct{}), make(chan struct{})
	f.log.Do("", func(*store.Tx) error { close(running); <-hold; return nil })
	<-running
	p, err := f.log.Queue(ctx, f.a.ID, msg(c, "b", "second"))
	if err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got != "shown 2 second" {
		t.Fatalf("got %q; want the message shown", got)
	}
	select {
	case <-p.req.done:
		t.Fatal("acknowledged before its commit")
	default:
	}
	close(hold)
	if m, err := p.Wait(ctx); err != nil || m.Seq != 2 {
		t.Fatalf("second: %+v %v", m, err)
	}
	expect("committed 2 second true")

	// A conversation's first message since the start is not numbered
	// before its commit, and the next ones wait for it, in order.
	fresh := f.conv[2]
	running, hold = make(chan struct{}), make(chan struct{})
	f.log.Do("", func(*store.Tx) error { close(running); <-hold; return nil })
	<-running
	p1, _ := f.log.Queue(ctx, f.a.ID, msg(fresh, "f1", "one"))
	p2, _ := f.log.Queue(ctx, f.a.ID, msg(fresh, "f2", "two"))
	close(hold)
	if _, err := p2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	p1.Wait(ctx)
	expect("committed 1 one false", "committed 2 two false")
	if _, err := send(msg(fresh, "f3", "three")); err != nil {
		t.Fatal(err)
	}
	expect("shown 3 three", "committed 3 three true")

	// A resend the client did not mark: shown, found to be one, taken back;
	// its seq stays a gap.
	if m, err := send(msg(c, "a", "first again")); err != nil || m.Seq != 1 || m.Text != "first" {
		t.Fatalf("a resend: %+v %v; want the original", m, err)
	}
	expect("shown 3 first again", "retracted 3 first again")
	if m, err := send(msg(c, "c", "third")); err != nil || m.Seq != 4 {
		t.Fatalf("after a resend: %+v %v; want seq 4", m, err)
	}
	expect("shown 4 third", "committed 4 third true")
	// Marked: not shown at all.
	again := msg(c, "a", "first once more")
	again.Resend = true
	if m, err := send(again); err != nil || m.Seq != 1 {
		t.Fatalf("a marked resend: %+v %v; want the original", m, err)
	}
	expect()

	// Refused by the commit: the conversation was deleted.
	if _, err := send(msg(gone, "x", "hello")); err != nil {
		t.Fatal(err)
	}
	expect("committed 1 hello false")
	if err := f.st.DeleteConversations(ctx, f.a.ID, []string{gone.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := send(msg(gone, "y", "to a deleted conversation")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("to a deleted conversation: %v; want ErrNotFound", err)
	}
	expect("shown 2 to a deleted conversation", "retracted 2 to a deleted conversation")

	// Numbered again: another writer took the seq.
	other, err := store.Open(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	m := &store.MessageAppend{TenantID: f.a.ID, ConversationID: c.ID, SenderKind: "agent", SenderID: "u1", Kind: KindText,
		Seal: func(seq int64) ([]byte, error) {
			return f.log.ring.Seal(ctx, f.a.ID, []byte("by another"), ad(c.ID, seq))
		}}
	if err := other.AppendMessage(ctx, m); err != nil || m.Seq != 5 {
		t.Fatalf("the other writer: %v seq %d", err, m.Seq)
	}
	if m, err := send(msg(c, "d", "fourth")); err != nil || m.Seq != 6 {
		t.Fatalf("after another writer: %+v %v; want seq 6", m, err)
	}
	expect("shown 5 fourth", "retracted 5 fourth", "committed 6 fourth false")
}

// TestCommittedMessagesNameTheirReaders: what Wait returns names the
// connections the message reached, whether it was shown before its commit
// or (a conversation's first since the start) by it, so that the sender's
// ack can wait for them.
func TestCommittedMessagesNameTheirReaders(t *testing.T) {
	x := newEng(t, nil)
	x.queue("Support", QueueConfig{})
	ann := x.member("Ann", "agent", nil)
	desk := x.online(ann)
	v, visitor, _ := x.start(Meta{})
	x.accept(ann, v.Conversation)
	for _, text := range []string{"first", "second"} {
		p, err := x.e.AgentPost(x.ctx, ann, v.Conversation, Message{Text: text, Origin: desk})
		if err != nil {
			t.Fatal(err)
		}
		m, err := p.Wait(x.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m.Readers, Sink(visitor)) {
			t.Fatalf("%q: readers %v do not include the visitor", text, m.Readers)
		}
		if slices.Contains(m.Readers, Sink(desk)) {
			t.Fatalf("%q: the sender's own desk is a reader", text)
		}
	}
}

// A node of a cluster writes a tenant's chats only under its lease: once
// another node took the lease over, what the first still had in flight is
// refused (ErrElsewhere) and nothing of it is stored, whatever the first
// node still believes.
func TestAFencedNodeWritesNothing(t *testing.T) {
	f := newFixture(t, 1)
	ctx := context.Background()
	c := f.conv[0]
	epoch, ok, err := f.st.AcquireLease(ctx, f.a.ID, "n1", time.Minute, 0)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	believes := true
	f.log.fence = func(tenant string) (string, int64, bool) { return "n1", epoch, believes }
	if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "under the lease"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.ReleaseLease(ctx, f.a.ID, "n1"); err != nil {
		t.Fatal(err)
	}
	if e2, ok, err := f.st.AcquireLease(ctx, f.a.ID, "n2", time.Minute, 0); err != nil || !ok || e2 != epoch+1 {
		t.Fatalf("the other node's lease: %d %v %v", e2, ok, err)
	}
	// n1 still believes it runs the tenant (a stalled node): the database
	// says otherwise.
	if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "after the lease"}); !errors.Is(err, ErrElsewhere) {
		t.Fatalf("a message after the lease ended: %v", err)
	}
	ran := false
	f.log.Do(f.a.ID, func(*store.Tx) error { ran = true; return nil })
	f.log.Flush()
	if ran {
		t.Fatal("a change was written after the lease ended")
	}
	believes = false // and one that knows it lost the lease asks nothing
	if _, err := f.log.Append(ctx, f.a.ID, Message{ConversationID: c.ID, Sender: visitor(c), Text: "known lost"}); !errors.Is(err, ErrElsewhere) {
		t.Fatalf("a message once the node knows: %v", err)
	}
	ms, err := f.log.Since(ctx, f.a.ID, c.ID, 0, 100, false)
	if err != nil || len(ms) != 1 || ms[0].Text != "under the lease" {
		t.Fatalf("stored: %+v %v", ms, err)
	}
}

// Contacts: the customers the tenant's sites verified, found by whole words
// of who they are (a name, an email or its domain, an external id); a
// contact's page lists their devices, visits, conversations and the offers
// they met, and erases them everywhere (owners and admins).
import { useEffect, useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me, PageOf } from "../api";
import type { Contact, ContactView, Site } from "../api.gen";
import { confirm } from "../components/dialog";
import { useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad, when } from "../ui";

const contactPath = () => new URLSearchParams(location.search).get("contact") ?? "";

export function Contacts({ me }: { me: Me }) {
  const [open, setOpen] = useState(contactPath());
  useEffect(() => {
    const onPop = () => setOpen(contactPath());
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);
  const show = (id: string) => {
    history.pushState(null, "", "/contacts" + (id ? "?contact=" + encodeURIComponent(id) : ""));
    setOpen(id);
  };
  return open ? <ContactPage me={me} id={open} back={() => show("")} /> : <ContactList me={me} show={show} />;
}

function ContactList({ me, show }: { me: Me; show: (id: string) => void }) {
  const [q, setQ] = useState("");
  const [query, setQuery] = useState("");
  const [rows, setRows] = useState<Contact[]>();
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const load = async (cursor: string) => {
    try {
      const params = new URLSearchParams({ limit: "50" });
      if (query) params.set("q", query);
      if (cursor) params.set("cursor", cursor);
      const page = await api<PageOf<Contact>>("GET", "/api/contacts?" + params.toString());
      setRows(cursor ? [...(rows ?? []), ...page.items] : page.items);
      setNext(page.next_cursor);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  };
  useEffect(() => void load(""), [me.tenant_id, query]);
  return (
    <Section title="Contacts">
      <form
        role="search"
        aria-label="Search contacts"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery(q.trim());
        }}
      >
        <input type="search" aria-label="Words" placeholder="A name, an email or its domain, a customer id" value={q} onInput={(e) => setQ(e.currentTarget.value)} maxLength={200} />
        <button type="submit">Search</button>
        {query && (
          <button type="button" class="link" onClick={() => (setQ(""), setQuery(""))}>
            Show all
          </button>
        )}
      </form>
      <p class="hint">Whole words: "ada", "example.com" or "ada@example.com" find Ada; "ad" does not.</p>
      <Table
        label="Contacts"
        rows={rows}
        error={error}
        retry={() => load("")}
        rowKey={(c) => c.id}
        empty={query ? "No contact has all of these words." : "No contacts yet: a site makes one when it verifies a visitor (identify with its signature, or a visitor token)."}
        columns={[
          {
            title: "Name",
            cell: (c) => (
              <button class="link" onClick={() => show(c.id)}>
                {c.name || c.email || c.external_id}
              </button>
            ),
          },
          { title: "Email", cell: (c) => c.email ?? "" },
          { title: "Customer id", cell: (c) => c.external_id },
          { title: "Verified by", cell: (c) => (c.verified_by === "token" ? "visitor token" : "signature") },
          { title: "Last seen", cell: (c) => when(c.last_seen) },
        ]}
      />
      {next && !query && (
        <button class="secondary" onClick={() => load(next)}>
          More
        </button>
      )}
    </Section>
  );
}

function ContactPage({ me, id, back }: { me: Me; id: string; back: () => void }) {
  const [page, error] = useLoad(() => api<ContactView>("GET", "/api/contacts/" + encodeURIComponent(id)), [me.tenant_id, id]);
  const [sites] = useLoad(() => api<{ items: Site[] }>("GET", "/api/sites").then((r) => r.items), [me.tenant_id]);
  const siteName = new Map((sites ?? []).map((s) => [s.id, s.name]));
  const act = useAction();
  const erase = async () => {
    if (!page) return;
    const who = page.contact.name || page.contact.email || page.contact.external_id;
    if (await confirm("Erase " + who + "?", "Their visits, events and chats on every site go, then the contact. This cannot be undone.", "Erase"))
      act.run(async () => {
        await api("DELETE", "/api/contacts/" + encodeURIComponent(id));
        back();
      });
  };
  const c = page?.contact;
  return (
    <Section title="Contact">
      <button class="link" onClick={back}>
        ← All contacts
      </button>
      <Alert error={error} />
      {c && page && (
        <>
          <h3>{c.name || c.email || c.external_id}</h3>
          <dl class="facts" aria-label="Who">
            <dt>Email</dt>
            <dd>{c.email || "—"}</dd>
            <dt>Customer id</dt>
            <dd>{c.external_id}</dd>
            <dt>Verified by</dt>
            <dd>{c.verified_by === "token" ? "a visitor token" : "the site's signature (identify)"}</dd>
            <dt>Seen</dt>
            <dd>
              {when(c.first_seen)} – {when(c.last_seen)}
            </dd>
            {Object.entries(c.attributes ?? {}).map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd>{v}</dd>
              </>
            ))}
          </dl>
          <h3>Conversations ({page.conversations.length})</h3>
          <Table
            label="Conversations"
            rows={page.conversations}
            rowKey={(x) => x.id}
            empty="No conversations."
            columns={[
              { title: "When", cell: (x) => <a href={"/transcripts?conversation=" + encodeURIComponent(x.id)}>{when(x.created_at)}</a> },
              { title: "Site", cell: (x) => siteName.get(x.site_id) ?? "" },
              { title: "Outcome", cell: (x) => (x.close_reason === "offline_message" ? "left a message" : x.close_reason || x.status) },
              { title: "Disposition", cell: (x) => x.disposition },
            ]}
          />
          <h3>
            Visits ({page.visit_count}
            {page.visit_count > page.visits.length ? ", the latest " + page.visits.length : ""})
          </h3>
          <Table
            label="Visits"
            rows={page.visits}
            rowKey={(v) => v.visitor + v.start}
            empty="No visits recorded."
            columns={[
              { title: "When", cell: (v) => when(v.start) },
              { title: "Site", cell: (v) => siteName.get(v.site_id) ?? "" },
              { title: "Pages", cell: (v) => v.pageviews, numeric: true },
              { title: "From", cell: (v) => v.referrer || "direct" },
              { title: "Path", cell: (v) => v.entry + (v.exit && v.exit !== v.entry ? " → " + v.exit : "") },
              { title: "Device", cell: (v) => [v.device, v.browser].filter(Boolean).join(" · ") },
            ]}
          />
          <h3>Offers</h3>
          <Table
            label="Offers met"
            rows={page.offers}
            rowKey={(o) => o.site_id + o.rule}
            empty="No proactive offer was shown to them."
            columns={[
              { title: "Offer", cell: (o) => o.name },
              { title: "Shown", cell: (o) => o.shown, numeric: true },
              { title: "Accepted", cell: (o) => o.accepted, numeric: true },
              { title: "Chats", cell: (o) => o.chats, numeric: true },
              { title: "Last", cell: (o) => when(o.last) },
            ]}
          />
          <h3>Devices</h3>
          <ul>
            {page.visitors.map((v) => (
              <li>
                {siteName.get(v.site_id) ?? v.site_id}: <code>{v.visitor}</code>
              </li>
            ))}
          </ul>
          {may(me, "visitors:erase") && (
            <button class="danger" onClick={erase} disabled={act.busy}>
              Erase this contact
            </button>
          )}
          <Alert error={act.error} />
        </>
      )}
    </Section>
  );
}

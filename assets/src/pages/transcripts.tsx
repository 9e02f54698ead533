// Transcripts: find past messages by their words (GET /api/chat/search: the
// whole tenant for supervisors, one's own chats for agents), narrowed by
// site, queue, agent, visitor, outcome, state and dates, and read the
// conversation they belong to. Before any search it lists the recent
// conversations, or the messages left on the offline form. A link with
// ?conversation=ID (the emails' "Open it in nudge") opens that one.
import { useEffect, useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me, PageOf } from "../api";
import type { Conversation, Member, Message, Queue, SearchHit as Hit, Site } from "../api.gen";
import { Alert, Section, useLoad, when } from "../ui";

type Transcript = { conversation: Conversation; messages: Message[] };
type Filters = { site: string; queue: string; agent: string; visitor: string; disposition: string; status: string; from: string; to: string; order: string };
const noFilters: Filters = { site: "", queue: "", agent: "", visitor: "", disposition: "", status: "", from: "", to: "", order: "" };

const names = <T extends { id: string; name: string }>(items: T[] | undefined) => new Map((items ?? []).map((i) => [i.id, i.name]));

export function Transcripts({ me }: { me: Me }) {
  const supervise = may(me, "chat:supervise");
  const [q, setQ] = useState("");
  const [filters, setFilters] = useState<Filters>(noFilters);
  const [hits, setHits] = useState<Hit[]>();
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState<Transcript>();
  const [sites] = useLoad(() => api<{ items: Site[] }>("GET", "/api/sites").then((r) => r.items), [me.tenant_id]);
  const [queues] = useLoad(() => api<{ items: Queue[] }>("GET", "/api/queues").then((r) => r.items), [me.tenant_id]);
  // Everyone who may work chats, signed in or not: a supervisor's pick.
  const [agents] = useLoad(
    () =>
      supervise && may(me, "members:read")
        ? api<PageOf<Member>>("GET", "/api/members?limit=200").then((r) => r.items.filter((m) => m.role !== "marketer"))
        : Promise.resolve([] as Member[]),
    [me.tenant_id],
  );
  // Before a search: the recent conversations, or only the left messages.
  const [left, setLeft] = useState(false);
  const [recent, recentError] = useLoad(
    () => api<PageOf<Conversation>>("GET", "/api/conversations?limit=30" + (left ? "&reason=offline_message" : "")).then((r) => r.items),
    [me.tenant_id, left],
  );
  const [dispositions] = useLoad(() => api<{ dispositions: string[] }>("GET", "/api/chat/dispositions").then((r) => r.dispositions), [me.tenant_id]);
  const siteNames = names(sites);
  const set = (f: Partial<Filters>) => setFilters({ ...filters, ...f });

  const find = async (cursor: string) => {
    const params = new URLSearchParams({ q });
    for (const [k, v] of Object.entries(filters)) {
      if (v) params.set(k, v);
    }
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api<{ items: Hit[]; next_cursor: string }>("GET", "/api/chat/search?" + params.toString());
      setHits(cursor ? [...(hits ?? []), ...page.items] : page.items);
      setNext(page.next_cursor);
      setError(undefined);
    } catch (e) {
      setError(e);
    }
  };
  const show = async (id: string) => {
    try {
      setOpen(await api<Transcript>("GET", "/api/conversations/" + encodeURIComponent(id) + "/transcript"));
    } catch (e) {
      setError(e);
    }
  };
  const filtered = Object.values(filters).some((v) => v !== "");
  // A link from an email (/transcripts?conversation=ID) opens its conversation.
  useEffect(() => {
    const id = new URLSearchParams(location.search).get("conversation");
    if (id) show(id);
  }, [me.tenant_id]);

  return (
    <Section title="Transcripts">
      <form
        role="search"
        aria-label="Search transcripts"
        class="wide"
        onSubmit={(e) => {
          e.preventDefault();
          find("");
        }}
      >
        <div class="row">
          <input type="search" aria-label="Words to find" placeholder='refund "order 4411" deliver*' value={q} onInput={(e) => setQ(e.currentTarget.value)} required maxLength={200} />
          <button type="submit">Search</button>
        </div>
        <p class="hint">Every word must be in the message; "quoted words" in that order; a word ending in * finds the words it begins (deliver* finds delivery).</p>
        <details open={filtered || undefined}>
          <summary>Filters{filtered ? " (on)" : ""}</summary>
          <fieldset class="filters">
          <legend>Narrow it down</legend>
          <label>
            Site
            <select name="site" value={filters.site} onChange={(e) => set({ site: e.currentTarget.value })}>
              <option value="">Any site</option>
              {(sites ?? []).map((s) => (
                <option value={s.id}>{s.name}</option>
              ))}
            </select>
          </label>
          <label>
            Queue
            <select name="queue" value={filters.queue} onChange={(e) => set({ queue: e.currentTarget.value })}>
              <option value="">Any queue</option>
              {(queues ?? []).map((q) => (
                <option value={q.id}>{q.name}</option>
              ))}
            </select>
          </label>
          {agents && agents.length > 0 && (
            <label>
              Agent
              <select name="agent" value={filters.agent} onChange={(e) => set({ agent: e.currentTarget.value })}>
                <option value="">Anyone</option>
                {(agents ?? []).map((a) => (
                  <option value={a.id}>{a.name || a.email}</option>
                ))}
              </select>
            </label>
          )}
          <label>
            Visitor id
            <input name="visitor" value={filters.visitor} maxLength={128} onInput={(e) => set({ visitor: e.currentTarget.value.trim() })} />
          </label>
          <label>
            Outcome
            {dispositions && dispositions.length > 0 ? (
              <select name="disposition" value={filters.disposition} onChange={(e) => set({ disposition: e.currentTarget.value })}>
                <option value="">Any outcome</option>
                {dispositions.map((d) => (
                  <option value={d}>{d}</option>
                ))}
              </select>
            ) : (
              <input name="disposition" value={filters.disposition} maxLength={128} onInput={(e) => set({ disposition: e.currentTarget.value.trim() })} />
            )}
          </label>
          <label>
            State
            <select name="status" value={filters.status} onChange={(e) => set({ status: e.currentTarget.value })}>
              <option value="">Open or closed</option>
              <option value="open">Open</option>
              <option value="closed">Closed</option>
            </select>
          </label>
          <label>
            From
            <input type="date" name="from" value={filters.from} onInput={(e) => set({ from: e.currentTarget.value })} />
          </label>
          <label>
            To
            <input type="date" name="to" value={filters.to} onInput={(e) => set({ to: e.currentTarget.value })} />
          </label>
          <label>
            Order
            <select name="order" value={filters.order} onChange={(e) => set({ order: e.currentTarget.value })}>
              <option value="">Newest first</option>
              <option value="relevance">Best match first</option>
            </select>
          </label>
          {filtered && (
            <button type="button" class="secondary" onClick={() => setFilters(noFilters)}>
              Clear filters
            </button>
          )}
          </fieldset>
        </details>
      </form>
      <Alert error={error} />
      {!hits && (
        <section aria-label="Recent conversations">
          <div class="row spread">
            <h3>{left ? "Messages left on the offline form" : "Recent conversations"}</h3>
            <label class="inline">
              <input type="checkbox" checked={left} onChange={(e) => setLeft(e.currentTarget.checked)} /> Only messages left when nobody could answer
            </label>
          </div>
          <Alert error={recentError} />
          {recent && recent.length === 0 && (
            <p class="empty">{left ? "No visitor has left a message." : "No conversation yet: chats appear here as visitors start them."}</p>
          )}
          {recent && recent.length > 0 && (
            <ul class="hits">
              {recent.map((c) => (
                <li key={c.id}>
                  <button class="link" onClick={() => show(c.id)}>
                    {when(c.created_at)} · {siteNames.get(c.site_id) ?? "site"} · visitor {c.visitor} ·{" "}
                    {c.close_reason === "offline_message" ? "left a message" : c.status}
                    {c.disposition ? " · " + c.disposition : ""}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {hits &&
        (hits.length === 0 ? (
          <p>{filtered ? "No message with these words matches these filters." : "No message has these words."}</p>
        ) : (
          <ul class="hits">
            {hits.map((h) => (
              <li key={h.conversation_id + "/" + h.seq}>
                <button class="link" onClick={() => show(h.conversation_id)}>
                  {when(h.created_at)} · {siteNames.get(h.conversation.site_id) ?? "site"} · visitor {h.conversation.visitor} · {h.conversation.status}
                  {h.conversation.disposition ? " · " + h.conversation.disposition : ""}
                </button>
                <p class={"msg " + h.sender.kind + (h.audience === "agents" ? " internal" : "")}>
                  {h.snippet.map((s) => (s.match ? <mark>{s.text}</mark> : s.text))}
                </p>
              </li>
            ))}
          </ul>
        ))}
      {next && (
        <button class="secondary" onClick={() => find(next)}>
          More
        </button>
      )}
      {open && (
        <article class="transcript" aria-label="Transcript">
          <h3>
            Conversation of {when(open.conversation.created_at)} · {open.conversation.status}
          </h3>
          <a
            href={"/api/conversations/" + encodeURIComponent(open.conversation.id) + "/transcript?format=text&tenant=" + encodeURIComponent(me.tenant_id)}
            download
          >
            Download as text
          </a>
          <div class="messages">
            {open.messages.map((m) => (
              <div key={m.seq} class={"msg " + m.sender.kind + (m.audience === "agents" ? " internal" : "")}>
                <small>
                  {m.sender.kind} · {when(m.created_at)}
                </small>
                <span class="text">{m.text}</span>
              </div>
            ))}
          </div>
        </article>
      )}
    </Section>
  );
}

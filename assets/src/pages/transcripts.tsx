// Transcripts: find past messages by their words (GET /api/chat/search: the
// whole tenant for supervisors, one's own chats for agents) and read the
// conversation they belong to.
import { useState } from "preact/hooks";
import { api } from "../api";
import type { Me } from "../api";
import type { Conversation, Message, SearchHit as Hit } from "../api.gen";
import { Alert, Section, when } from "../ui";

type Transcript = { conversation: Conversation; messages: Message[] };

export function Transcripts({ me }: { me: Me }) {
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<Hit[]>();
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const [open, setOpen] = useState<Transcript>();

  const find = async (cursor: string) => {
    try {
      const page = await api<{ items: Hit[]; next_cursor: string }>(
        "GET",
        "/api/chat/search?q=" + encodeURIComponent(q) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""),
      );
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

  return (
    <Section title="Transcripts">
      <form
        role="search"
        aria-label="Search transcripts"
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          find("");
        }}
      >
        <input type="search" aria-label="Words to find" placeholder='refund "order 4411"' value={q} onInput={(e) => setQ(e.currentTarget.value)} required maxLength={200} />
        <button type="submit">Search</button>
      </form>
      <Alert error={error} />
      {hits &&
        (hits.length === 0 ? (
          <p>No message has these words.</p>
        ) : (
          <ul class="hits">
            {hits.map((h) => (
              <li key={h.conversation_id + "/" + h.seq}>
                <button class="link" onClick={() => show(h.conversation_id)}>
                  {when(h.created_at)} · visitor {h.conversation.visitor} · {h.conversation.status}
                </button>
                <p class={"msg " + h.sender.kind + (h.audience === "agents" ? " internal" : "")}>{h.text}</p>
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

// Left messages: what visitors wrote on the offline form while nobody could
// answer, as work: new ones first, by queue; answered by email from here
// (the answer goes to the visitor and into the conversation) or marked
// answered after a call. Supervisors see the tenant's, agents their queues'.
import { useState } from "preact/hooks";
import { api } from "../api";
import type { Me, PageOf } from "../api";
import type { LeftMessage, Queue } from "../api.gen";
import { useAction } from "../components/form";
import { Alert, Section, useLoad, when } from "../ui";

export function LeftMessages({ me }: { me: Me }) {
  const [state, setState] = useState("new");
  const [queue, setQueue] = useState("");
  const [queues] = useLoad(() => api<{ items: Queue[] }>("GET", "/api/queues").then((r) => r.items), [me.tenant_id]);
  const q = new URLSearchParams({ limit: "100" });
  if (state) q.set("state", state);
  if (queue) q.set("queue", queue);
  const [page, error, reload] = useLoad(() => api<PageOf<LeftMessage>>("GET", "/api/left-messages?" + q.toString()), [me.tenant_id, state, queue]);
  const queueName = new Map((queues ?? []).map((x) => [x.id, x.name]));
  return (
    <Section title="Left messages">
      <div class="row">
        <label class="inline">
          Show
          <select aria-label="State" value={state} onChange={(e) => setState(e.currentTarget.value)}>
            <option value="new">new</option>
            <option value="answered">answered</option>
            <option value="">all</option>
          </select>
        </label>
        <label class="inline">
          Queue
          <select aria-label="Queue" value={queue} onChange={(e) => setQueue(e.currentTarget.value)}>
            <option value="">every queue</option>
            {(queues ?? []).map((x) => (
              <option value={x.id}>{x.name}</option>
            ))}
          </select>
        </label>
      </div>
      <Alert error={error} />
      {page && page.items.length === 0 && <p class="empty">{state === "new" ? "No new messages: every message left is answered." : "No messages."}</p>}
      <ul class="left-messages" aria-label="Left messages">
        {(page?.items ?? []).map((m) => (
          <Item key={m.conversation_id} m={m} queue={queueName.get(m.queue_id) ?? ""} done={reload} />
        ))}
      </ul>
    </Section>
  );
}

function Item({ m, queue, done }: { m: LeftMessage; queue: string; done: () => void }) {
  const [answer, setAnswer] = useState("");
  const act = useAction(done);
  const send = (e: Event) => {
    e.preventDefault();
    act.run(() => api("POST", "/api/left-messages/" + encodeURIComponent(m.conversation_id) + "/reply", { text: answer }));
  };
  const mark = (answered: boolean) => act.run(() => api("PATCH", "/api/left-messages/" + encodeURIComponent(m.conversation_id), { answered }));
  return (
    <li class="left-message" aria-label={"Message from " + (m.name || "a visitor")}>
      <p>
        <b>{m.name || "A visitor"}</b> {m.email ? <a href={"mailto:" + m.email}>{m.email}</a> : <span class="muted">(no email address)</span>} ·{" "}
        {when(m.created_at)}
        {queue && " · " + queue}
      </p>
      <blockquote>{m.text}</blockquote>
      {m.page && <p class="muted">On {m.page}</p>}
      {m.state === "answered" ? (
        <p>
          Answered by {m.answered_by || "someone"} {when(m.answered_at)}.{" "}
          <button class="link" onClick={() => mark(false)} disabled={act.busy}>
            Mark new
          </button>
        </p>
      ) : (
        <>
          {m.email && (
            <form onSubmit={send} aria-label={"Answer " + (m.name || "the visitor")}>
              <textarea aria-label="Answer by email" value={answer} onInput={(e) => setAnswer(e.currentTarget.value)} required maxLength={4000} rows={3} />
              <button type="submit" disabled={act.busy}>
                Send by email
              </button>
            </form>
          )}
          <button class="link" onClick={() => mark(true)} disabled={act.busy}>
            Mark answered
          </button>
        </>
      )}
      <Alert error={act.error} />
    </li>
  );
}

// Chat setup: queues and their routing, agents' capacity and queues, canned
// responses, and webhooks with their delivery log. Each part shows only to
// the roles the server lets use it.
import { useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me } from "../api";
import type { Agent, Canned, Queue } from "../api.gen";
import { ChatSettingsForm, QueueForm } from "./chatsettings";
import { Alert, Section, useLoad, when } from "../ui";

interface Webhook {
  id: string;
  url: string;
  events: string[];
  active: boolean;
}
interface Delivery {
  id: string;
  event: string;
  status: string;
  attempts: number;
  last_status: number;
  last_error: string;
  created_at: string;
}
interface Items<T> {
  items: T[];
}

// useAct runs a change, then reloads, keeping the last error to show.
function useAct(reload: () => void): [(f: () => Promise<unknown>) => Promise<boolean>, unknown] {
  const [error, setError] = useState<unknown>();
  const act = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setError(undefined);
      reload();
      return true;
    } catch (err) {
      setError(err);
      return false;
    }
  };
  return [act, error];
}

const events = ["conversation.created", "conversation.assigned", "conversation.transferred", "conversation.closed", "message.created", "offer.accepted"];

export function ChatSetup({ me }: { me: Me }) {
  return (
    <>
      <Queues me={me} />
      <Agents me={me} />
      <CannedResponses me={me} />
      {may(me, "webhooks:read") && <Webhooks me={me} />}
    </>
  );
}

function Queues({ me }: { me: Me }) {
  const [queues, error, reload] = useLoad(() => api<Items<Queue>>("GET", "/api/queues"), [me.tenant_id]);
  const [editing, setEditing] = useState("");
  // A new form after each creation; not before the queues are loaded.
  const [created, setCreated] = useState(0);
  const [act, formError] = useAct(reload);
  const remove = (q: Queue) => confirm("Delete the queue " + q.name + "?") && act(() => api("DELETE", "/api/queues/" + q.id));
  const all = queues?.items ?? [];
  const name = (id?: string) => all.find((q) => q.id === id)?.name ?? "";
  const write = may(me, "queues:write");
  return (
    <>
      <Section title="Queues">
        <Alert error={error ?? formError} />
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Routing</th>
              <th>Skills</th>
              <th>Offer timeout</th>
              <th>Overflow</th>
              <th>Hours</th>
              {write && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {all.map((q) => (
              <tr key={q.id}>
                <td>{q.name}</td>
                <td>{q.config.routing}</td>
                <td>{(q.config.skills ?? []).join(", ")}</td>
                <td>{q.config.offer_timeout} s</td>
                <td>{q.config.overflow_queue ? name(q.config.overflow_queue) + " after " + q.config.overflow_after + " s" : "—"}</td>
                <td>{q.config.hours ? "set (" + q.config.hours.time_zone + ")" : "always open"}</td>
                {write && (
                  <td>
                    <button class="link" onClick={() => setEditing(q.id)}>
                      Edit
                    </button>{" "}
                    <button class="link" onClick={() => remove(q)}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
        {write && editing && all.find((q) => q.id === editing) && (
          <QueueForm key={editing} queue={all.find((q) => q.id === editing)!} queues={all} onDone={() => (setEditing(""), reload())} />
        )}
        {write && !editing && queues && <QueueForm key={created} queue={null} queues={all} onDone={() => (setCreated(created + 1), reload())} />}
      </Section>
      {may(me, "chat_settings:write") && queues && <ChatSettingsForm me={me} queues={all} />}
    </>
  );
}

function Agents({ me }: { me: Me }) {
  const allowed = may(me, "agents:write");
  const [agents, error, reload] = useLoad(() => (allowed ? api<Items<Agent>>("GET", "/api/agents") : Promise.resolve({ items: [] })), [me.tenant_id]);
  const [queues] = useLoad(() => api<Items<Queue>>("GET", "/api/queues"), [me.tenant_id]);
  const [editing, setEditing] = useState("");
  const [act, formError] = useAct(reload);
  if (!allowed) return null;
  const qname = (id: string) => queues?.items.find((q) => q.id === id)?.name ?? id;
  const who = (a: Agent) => a.name || a.email;
  return (
    <Section title="Agents">
      <Alert error={error} />
      <Alert error={formError} />
      <table>
        <thead>
          <tr>
            <th>Agent</th>
            <th>Role</th>
            <th>Chats at once</th>
            <th>Skills (rating 1 to 10)</th>
            <th>Queues</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {agents?.items.map((a) =>
            editing === a.user_id ? (
              <AgentRow key={a.user_id} agent={a} queues={queues?.items ?? []} onSave={(p) => act(() => api("PUT", "/api/agents/" + a.user_id, p)).then((ok) => ok && setEditing(""))} onCancel={() => setEditing("")} />
            ) : (
              <tr key={a.user_id}>
                <td>{who(a)}</td>
                <td>{a.role}</td>
                <td>{a.profile.capacity}</td>
                <td>
                  {Object.entries(a.profile.skills ?? {})
                    .map(([k, v]) => k + " " + v)
                    .join(", ") || "—"}
                </td>
                <td>{(a.profile.queues ?? []).length ? (a.profile.queues ?? []).map(qname).join(", ") : "all"}</td>
                <td>
                  <button class="link" onClick={() => setEditing(a.user_id)} aria-label={"Edit " + who(a)}>
                    Edit
                  </button>
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </Section>
  );
}

// AgentRow edits an agent's capacity, skills with their ratings, and the
// queues they answer (none ticked: all).
function AgentRow({ agent, queues, onSave, onCancel }: { agent: Agent; queues: Queue[]; onSave: (p: Agent["profile"]) => void; onCancel: () => void }) {
  const [capacity, setCapacity] = useState(agent.profile.capacity ?? 3);
  const [skills, setSkills] = useState(
    Object.entries(agent.profile.skills ?? {})
      .map(([k, v]) => k + ":" + v)
      .join(", "),
  );
  const [qs, setQs] = useState<string[]>(agent.profile.queues ?? []);
  const name = agent.name || agent.email;
  const parsed = () =>
    Object.fromEntries(
      skills
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean)
        .map((x) => {
          const [k, v] = x.split(":");
          return [k!.trim(), Number(v ?? 5)];
        }),
    );
  return (
    <tr class="editing">
      <td>{name}</td>
      <td>{agent.role}</td>
      <td>
        <input type="number" class="short" min={1} max={100} aria-label={"Capacity of " + name} value={capacity} onInput={(e) => setCapacity(Number(e.currentTarget.value))} />
      </td>
      <td>
        <input aria-label={"Skills of " + name} placeholder="billing:8, french:5" value={skills} onInput={(e) => setSkills(e.currentTarget.value)} />
      </td>
      <td>
        {queues.map((q) => (
          <label class="inline">
            <input type="checkbox" checked={qs.includes(q.id)} onChange={(e) => setQs(e.currentTarget.checked ? [...qs, q.id] : qs.filter((x) => x !== q.id))} /> {q.name}
          </label>
        ))}
      </td>
      <td>
        <button class="link" onClick={() => onSave({ capacity, skills: parsed(), queues: qs })}>
          Save
        </button>{" "}
        <button class="link" onClick={onCancel}>
          Cancel
        </button>
      </td>
    </tr>
  );
}

function CannedResponses({ me }: { me: Me }) {
  const [canned, error, reload] = useLoad(() => api<Items<Canned>>("GET", "/api/canned"), [me.tenant_id]);
  const [shortcut, setShortcut] = useState("");
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [editing, setEditing] = useState("");
  const [act, formError] = useAct(reload);
  const canWrite = may(me, "canned:write");
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = { shortcut, title, text };
    if (await act(() => (editing ? api("PATCH", "/api/canned/" + editing, body) : api("POST", "/api/canned", body)))) {
      setShortcut("");
      setTitle("");
      setText("");
      setEditing("");
    }
  };
  const edit = (c: Canned) => (setEditing(c.id), setShortcut(c.shortcut), setTitle(c.title), setText(c.text));
  const remove = (c: Canned) => confirm("Delete /" + c.shortcut + "?") && act(() => api("DELETE", "/api/canned/" + c.id));
  return (
    <Section title="Canned responses">
      <Alert error={error} />
      <table>
        <thead>
          <tr>
            <th>Shortcut</th>
            <th>Title</th>
            <th>Text</th>
            {canWrite && <th>Actions</th>}
          </tr>
        </thead>
        <tbody>
          {canned?.items.map((c) => (
            <tr key={c.id}>
              <td>/{c.shortcut}</td>
              <td>{c.title}</td>
              <td>{c.text}</td>
              {canWrite && (
                <td>
                  <button class="link" onClick={() => edit(c)}>
                    Edit
                  </button>{" "}
                  <button class="link" onClick={() => remove(c)}>
                    Delete
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {canWrite && (
        <form onSubmit={submit} aria-label={editing ? "Edit canned response" : "New canned response"}>
          <h3>{editing ? "Edit /" + shortcut : "New canned response"}</h3>
          <label for="canned-shortcut">Shortcut</label>
          <input id="canned-shortcut" value={shortcut} onInput={(e) => setShortcut(e.currentTarget.value)} required />
          <label for="canned-title">Title (what agents see in the picker)</label>
          <input id="canned-title" value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          <label for="canned-text">Text ({"{{agent.name}}, {{visitor.name}}, {{page.url}}, {{vars.KEY}}"} are filled in)</label>
          <textarea id="canned-text" value={text} onInput={(e) => setText(e.currentTarget.value)} required />
          <Alert error={formError} />
          <div class="row">
            <button type="submit">Save</button>
            {editing && (
              <button type="button" class="secondary" onClick={() => (setEditing(""), setShortcut(""), setTitle(""), setText(""))}>
                Cancel
              </button>
            )}
          </div>
        </form>
      )}
    </Section>
  );
}

function Webhooks({ me }: { me: Me }) {
  const [hooks, error, reload] = useLoad(() => api<Items<Webhook>>("GET", "/api/webhooks"), [me.tenant_id]);
  const [url, setUrl] = useState("");
  const [chosen, setChosen] = useState<string[]>(["conversation.closed"]);
  const [secret, setSecret] = useState("");
  const [log, setLog] = useState<{ hook: string; items: Delivery[] } | null>(null);
  const [act, formError] = useAct(reload);
  const create = async (e: Event) => {
    e.preventDefault();
    if (await act(async () => setSecret((await api<{ secret: string }>("POST", "/api/webhooks", { url, events: chosen })).secret))) setUrl("");
  };
  const showLog = (id: string) => act(async () => setLog({ hook: id, items: (await api<Items<Delivery>>("GET", `/api/webhooks/${id}/deliveries`)).items }));
  return (
    <Section title="Webhooks">
      <Alert error={error} />
      {secret && (
        <p class="notice" role="status">
          Copy this signing secret now; it is not shown again: <code>{secret}</code>
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>URL</th>
            <th>Events</th>
            <th>State</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          {hooks?.items.map((h) => (
            <tr key={h.id}>
              <td>{h.url}</td>
              <td>{h.events.join(", ")}</td>
              <td>{h.active ? "active" : "paused"}</td>
              <td class="row">
                <button class="link" onClick={() => showLog(h.id)}>
                  Deliveries
                </button>
                <button class="link" onClick={() => act(() => api("PATCH", "/api/webhooks/" + h.id, { active: !h.active }))}>
                  {h.active ? "Pause" : "Resume"}
                </button>
                <button class="link" onClick={() => act(() => api("DELETE", "/api/webhooks/" + h.id))}>
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {log && (
        <table aria-label="Deliveries">
          <thead>
            <tr>
              <th>When</th>
              <th>Event</th>
              <th>Status</th>
              <th>Attempts</th>
              <th>Last answer</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {log.items.map((d) => (
              <tr key={d.id}>
                <td>{when(d.created_at)}</td>
                <td>{d.event}</td>
                <td>{d.status}</td>
                <td>{d.attempts}</td>
                <td>{d.last_error || d.last_status || ""}</td>
                <td>
                  <button class="link" onClick={() => act(async () => (await api("POST", `/api/webhooks/${log.hook}/deliveries/${d.id}/replay`), showLog(log.hook)))}>
                    Replay
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={create} aria-label="New webhook">
        <h3>New webhook</h3>
        <label for="hook-url">URL</label>
        <input id="hook-url" type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
        <fieldset>
          <legend>Events</legend>
          {events.map((ev) => (
            <label>
              <input
                type="checkbox"
                style="width: auto"
                checked={chosen.includes(ev)}
                onChange={(e) => setChosen(e.currentTarget.checked ? [...chosen, ev] : chosen.filter((x) => x !== ev))}
              />{" "}
              {ev}
            </label>
          ))}
        </fieldset>
        <Alert error={formError} />
        <button type="submit">Add webhook</button>
      </form>
    </Section>
  );
}

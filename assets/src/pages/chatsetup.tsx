// Chat setup: queues and their routing, agents' capacity and queues, canned
// responses, and webhooks with their delivery log. Each part shows only to
// the roles the server lets use it.
import { useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me } from "../api";
import type { Agent, Canned, Delivery, Queue, Webhook } from "../api.gen";
import { CopyButton } from "../components/copy";
import { confirm } from "../components/dialog";
import { Field, otherThan, useAction } from "../components/form";
import { Table } from "../components/table";
import { ChatSettingsForm, QueueForm } from "./chatsettings";
import { Alert, Section, useLoad, when } from "../ui";

interface Items<T> {
  items: T[];
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
  const act = useAction(reload);
  const remove = async (q: Queue) => {
    if (await confirm("Delete the queue " + q.name + "?", "This cannot be undone.", "Delete"))
      act.run(() => api("DELETE", "/api/queues/" + q.id));
  };
  const all = queues?.items ?? [];
  const name = (id?: string) => all.find((q) => q.id === id)?.name ?? "";
  const write = may(me, "queues:write");
  const edited = write && editing ? all.find((q) => q.id === editing) : undefined;
  return (
    <>
      <Section title="Queues">
        <Alert error={act.error} />
        <Table
          label="Queues"
          rows={queues?.items}
          error={error}
          retry={reload}
          rowKey={(q) => q.id}
          empty="No queues. Chats go to a queue, which offers them to its agents."
          columns={[
            { title: "Name", cell: (q) => q.name },
            { title: "Routing", cell: (q) => q.config.routing },
            { title: "Skills", cell: (q) => (q.config.skills ?? []).join(", ") },
            { title: "Offer timeout", cell: (q) => q.config.offer_timeout + " s", numeric: true },
            { title: "Overflow", cell: (q) => (q.config.overflow_queue ? name(q.config.overflow_queue) + " after " + q.config.overflow_after + " s" : "—") },
            { title: "Hours", cell: (q) => (q.config.hours ? "set (" + q.config.hours.time_zone + ")" : "always open") },
            write && {
              title: "Actions",
              cell: (q) => (
                <span class="row">
                  <button class="link" onClick={() => setEditing(q.id)} aria-label={"Edit the queue " + q.name}>
                    Edit
                  </button>
                  <button class="link" onClick={() => remove(q)} aria-label={"Delete the queue " + q.name}>
                    Delete
                  </button>
                </span>
              ),
            },
          ]}
        />
        {edited && <QueueForm key={editing} queue={edited} queues={all} onDone={() => (setEditing(""), reload())} />}
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
  const act = useAction(reload);
  if (!allowed) return null;
  const qname = (id: string) => queues?.items.find((q) => q.id === id)?.name ?? id;
  const who = (a: Agent) => a.name || a.email;
  return (
    <Section title="Agents">
      <Alert error={act.error} />
      <Table
        label="Agents"
        rows={agents?.items}
        error={error}
        retry={reload}
        rowKey={(a) => a.user_id}
        empty="No agents. Invite people with the agent role on the Members page."
        editing={(a) =>
          editing === a.user_id ? (
            <AgentRow key={a.user_id} agent={a} queues={queues?.items ?? []} onSave={(p) => act.run(() => api("PUT", "/api/agents/" + a.user_id, p)).then((ok) => ok && setEditing(""))} onCancel={() => setEditing("")} />
          ) : null
        }
        columns={[
          { title: "Agent", cell: who },
          { title: "Role", cell: (a) => a.role },
          { title: "Chats at once", cell: (a) => a.profile.capacity, numeric: true },
          {
            title: "Skills (rating 1 to 10)",
            cell: (a) =>
              Object.entries(a.profile.skills ?? {})
                .map(([k, v]) => k + " " + v)
                .join(", ") || "—",
          },
          { title: "Queues", cell: (a) => ((a.profile.queues ?? []).length ? (a.profile.queues ?? []).map(qname).join(", ") : "all") },
          {
            title: "Actions",
            cell: (a) => (
              <button class="link" onClick={() => setEditing(a.user_id)} aria-label={"Edit " + who(a)}>
                Edit
              </button>
            ),
          },
        ]}
      />
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
  const act = useAction(reload);
  const canWrite = may(me, "canned:write");
  const reset = () => (setEditing(""), setShortcut(""), setTitle(""), setText(""));
  const submit = async (e: Event) => {
    e.preventDefault();
    const body = { shortcut, title, text };
    if (await act.run(() => (editing ? api("PATCH", "/api/canned/" + editing, body) : api("POST", "/api/canned", body)))) reset();
  };
  const edit = (c: Canned) => (setEditing(c.id), setShortcut(c.shortcut), setTitle(c.title), setText(c.text));
  const remove = async (c: Canned) => {
    if (await confirm("Delete /" + c.shortcut + "?", "Agents can no longer use it.", "Delete")) act.run(() => api("DELETE", "/api/canned/" + c.id));
  };
  return (
    <Section title="Canned responses">
      <Table
        label="Canned responses"
        rows={canned?.items}
        error={error}
        retry={reload}
        rowKey={(c) => c.id}
        empty="No canned responses. Agents type / and a shortcut to send one."
        columns={[
          { title: "Shortcut", cell: (c) => "/" + c.shortcut },
          { title: "Title", cell: (c) => c.title },
          { title: "Text", cell: (c) => c.text },
          canWrite && {
            title: "Actions",
            cell: (c) => (
              <span class="row">
                <button class="link" onClick={() => edit(c)} aria-label={"Edit /" + c.shortcut}>
                  Edit
                </button>
                <button class="link" onClick={() => remove(c)} aria-label={"Delete /" + c.shortcut}>
                  Delete
                </button>
              </span>
            ),
          },
        ]}
      />
      {canWrite && (
        <form onSubmit={submit} aria-label={editing ? "Edit canned response" : "New canned response"}>
          <h3>{editing ? "Edit /" + shortcut : "New canned response"}</h3>
          <Field id="canned-shortcut" label="Shortcut" name="shortcut" error={act.error}>
            <input id="canned-shortcut" value={shortcut} onInput={(e) => setShortcut(e.currentTarget.value)} required />
          </Field>
          <Field id="canned-title" label="Title (what agents see in the picker)" name="title" error={act.error}>
            <input id="canned-title" value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </Field>
          <Field id="canned-text" label={"Text ({{agent.name}}, {{visitor.name}}, {{page.url}}, {{vars.KEY}} are filled in)"} name="text" error={act.error}>
            <textarea id="canned-text" value={text} onInput={(e) => setText(e.currentTarget.value)} required />
          </Field>
          <Alert error={otherThan(act.error, "shortcut", "title", "text")} />
          <div class="row">
            <button type="submit" disabled={act.busy}>
              Save
            </button>
            {editing && (
              <button type="button" class="secondary" onClick={reset}>
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
  const [log, setLog] = useState<{ hook: Webhook; items: Delivery[] } | null>(null);
  const act = useAction(reload);
  const create = async (e: Event) => {
    e.preventDefault();
    if (await act.run(async () => setSecret((await api<{ secret: string }>("POST", "/api/webhooks", { url, events: chosen })).secret))) setUrl("");
  };
  const showLog = (h: Webhook) => act.run(async () => setLog({ hook: h, items: (await api<Items<Delivery>>("GET", `/api/webhooks/${h.id}/deliveries`)).items }));
  const remove = async (h: Webhook) => {
    if (await confirm("Delete the webhook to " + h.url + "?", "Its deliveries and their log are deleted with it.", "Delete"))
      act.run(async () => (await api("DELETE", "/api/webhooks/" + h.id), log?.hook.id === h.id && setLog(null)));
  };
  return (
    <Section title="Webhooks">
      {secret && (
        <p class="notice" role="status">
          Copy this signing secret now; it is not shown again: <code>{secret}</code> <CopyButton text={secret} label="Copy" class="secondary" />
        </p>
      )}
      <Table
        label="Webhooks"
        rows={hooks?.items}
        error={error}
        retry={reload}
        rowKey={(h) => h.id}
        empty="No webhooks. A webhook tells your systems when chats start, change hands and end."
        columns={[
          { title: "URL", cell: (h) => h.url },
          { title: "Events", cell: (h) => h.events.join(", ") },
          { title: "State", cell: (h) => (h.active ? "active" : "paused") },
          {
            title: "Actions",
            cell: (h) => (
              <span class="row">
                <button class="link" onClick={() => showLog(h)} aria-label={"Deliveries to " + h.url}>
                  Deliveries
                </button>
                <button class="link" onClick={() => act.run(() => api("PATCH", "/api/webhooks/" + h.id, { active: !h.active }))}>
                  {h.active ? "Pause" : "Resume"}
                </button>
                <button class="link" onClick={() => remove(h)} aria-label={"Delete the webhook to " + h.url}>
                  Delete
                </button>
              </span>
            ),
          },
        ]}
      />
      {log && (
        <>
          <h3>Deliveries to {log.hook.url}</h3>
          <Table
            label="Deliveries"
            rows={log.items}
            rowKey={(d) => d.id}
            empty="Nothing sent yet."
            columns={[
              { title: "When", cell: (d) => when(d.created_at) },
              { title: "Event", cell: (d) => d.event },
              { title: "Status", cell: (d) => d.status },
              { title: "Attempts", cell: (d) => d.attempts, numeric: true },
              { title: "Last answer", cell: (d) => d.last_error || d.last_status || "" },
              {
                title: "Actions",
                cell: (d) => (
                  <button class="link" onClick={() => act.run(async () => (await api("POST", `/api/webhooks/${log.hook.id}/deliveries/${d.id}/replay`), showLog(log.hook)))}>
                    Replay
                  </button>
                ),
              },
            ]}
          />
        </>
      )}
      <form onSubmit={create} aria-label="New webhook">
        <h3>New webhook</h3>
        <Field id="hook-url" label="URL" name="url" error={act.error}>
          <input id="hook-url" type="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
        </Field>
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
        <Alert error={otherThan(act.error, "url")} />
        <button type="submit" disabled={act.busy}>
          Add webhook
        </button>
      </form>
    </Section>
  );
}

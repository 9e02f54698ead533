// Chat settings and queue forms for admins: every setting the API has, in a
// form (the default queue, the pre-chat question and its topics, inactivity,
// CSAT, dispositions, masking with a live test, the team's time zone), and
// queues with routing, overflow, waits and business hours, edited in place.
import { useState } from "preact/hooks";
import { api } from "../api";
import type { Me } from "../api";
import type { ChatSettings, FormField as Field, Hours, Queue, QueueConfig } from "../api.gen";
import { Alert, Section, useLoad } from "../ui";

const lines = (s: string) => s.split("\n").map((x) => x.trim()).filter(Boolean);

export function ChatSettingsForm({ me, queues }: { me: Me; queues: Queue[] }) {
  const [loaded, error] = useLoad(() => api<ChatSettings>("GET", "/api/chat/settings"), [me.tenant_id]);
  if (!loaded) return <Section title="Chat settings">{error ? <Alert error={error} /> : <p class="loading">Loading…</p>}</Section>;
  return <SettingsForm key={me.tenant_id} initial={loaded} queues={queues} />;
}

// SettingsForm keeps its state across a save (the answer is the settings as
// stored), so that "Saved." stays until the next edit.
function SettingsForm({ initial, queues }: { initial: ChatSettings; queues: Queue[] }) {
  const [s, setS] = useState<ChatSettings>(initial);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const [sample, setSample] = useState("My order ORD-123456, card 4111 1111 1111 1111");
  const [masked, setMasked] = useState("");
  const set = (p: Partial<ChatSettings>) => (setS({ ...s, ...p }), setSaved(false));
  const prechat = s.prechat ?? null;
  const fields = s.form?.fields ?? [];
  const setField = (i: number, p: Partial<Field>) => set({ form: { fields: fields.map((f, j) => (j === i ? { ...f, ...p } : f)) } });
  const options = prechat?.options ?? [];
  const save = async (e: Event) => {
    e.preventDefault();
    try {
      const stored = await api<ChatSettings>("PUT", "/api/chat/settings", s);
      if (stored && typeof stored == "object") setS(stored);
      setError(undefined);
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  const test = async () => {
    try {
      setMasked((await api<{ text: string }>("POST", "/api/chat/settings/mask-test", { patterns: s.patterns ?? [], mask_cards: s.mask_cards !== false, text: sample })).text);
      setError(undefined);
    } catch (err) {
      setMasked("");
      setError(err);
    }
  };
  return (
    <Section title="Chat settings">
      <form onSubmit={save} aria-label="Chat settings" class="wide">
        <label for="set-queue">Default queue (chats that name none)</label>
        <select id="set-queue" value={s.default_queue ?? ""} onChange={(e) => set({ default_queue: e.currentTarget.value })}>
          <option value="">(the first queue by name)</option>
          {queues.map((q) => (
            <option value={q.id}>{q.name}</option>
          ))}
        </select>
        <label for="set-zone">Time zone of the team (chat reports count days in it)</label>
        <input id="set-zone" list="zones" value={s.time_zone ?? "UTC"} onInput={(e) => set({ time_zone: e.currentTarget.value })} />
        <datalist id="zones">
          {(Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.("timeZone").map((z) => <option value={z} />)}
        </datalist>
        <fieldset>
          <legend>Welcome</legend>
          <label for="set-title">Team name (empty: the site's name)</label>
          <input id="set-title" maxLength={100} value={s.welcome?.title ?? ""} onInput={(e) => set({ welcome: { ...s.welcome, title: e.currentTarget.value } })} />
          <label for="set-greeting">Greeting</label>
          <input id="set-greeting" maxLength={500} placeholder="Hi! How can we help?" value={s.welcome?.greeting ?? ""} onInput={(e) => set({ welcome: { ...s.welcome, greeting: e.currentTarget.value } })} />
        </fieldset>
        <fieldset>
          <legend>Pre-chat form</legend>
          <label class="inline">
            <input type="checkbox" checked={!!s.form} onChange={(e) => set({ form: e.currentTarget.checked ? { fields: [{ kind: "name", label: "Your name", required: true }] } : null })} /> Ask
            visitors for details with their first message
          </label>
          {s.form && (
            <>
              {fields.map((f, i) => (
                <div class="row" role="group" aria-label={"Field " + (i + 1)}>
                  <select aria-label={"Kind of field " + (i + 1)} value={f.kind} onChange={(e) => setField(i, { kind: e.currentTarget.value as Field["kind"], key: e.currentTarget.value === "text" ? "details" : undefined })}>
                    <option value="name">Name</option>
                    <option value="email">Email</option>
                    <option value="text">Text</option>
                  </select>
                  {f.kind === "text" && <input aria-label={"Key of field " + (i + 1)} class="short" placeholder="order" value={f.key ?? ""} onInput={(e) => setField(i, { key: e.currentTarget.value })} />}
                  <input aria-label={"Label of field " + (i + 1)} value={f.label} onInput={(e) => setField(i, { label: e.currentTarget.value })} />
                  <label class="inline">
                    <input type="checkbox" checked={f.required} onChange={(e) => setField(i, { required: e.currentTarget.checked })} /> required
                  </label>
                  <button type="button" class="link" onClick={() => set({ form: fields.length > 1 ? { fields: fields.filter((_, j) => j !== i) } : null })}>
                    Remove
                  </button>
                </div>
              ))}
              {fields.length < 6 && (
                <button type="button" class="secondary" onClick={() => set({ form: { fields: [...fields, { kind: "email", label: "Your email", required: false }] } })}>
                  + Field
                </button>
              )}
            </>
          )}
        </fieldset>
        <fieldset>
          <legend>Pre-chat question</legend>
          <label class="inline">
            <input
              type="checkbox"
              checked={prechat !== null}
              onChange={(e) => set({ prechat: e.currentTarget.checked ? { question: "What is it about?", options: [{ label: "Billing", queue: queues[0]?.id ?? "" }] } : null })}
            />{" "}
            Ask visitors a question whose answer picks the queue
          </label>
          {prechat && (
            <>
              <label for="set-question">Question</label>
              <input id="set-question" value={prechat.question ?? ""} onInput={(e) => set({ prechat: { ...prechat, question: e.currentTarget.value } })} />
              {options.map((o, i) => (
                <div class="row" role="group" aria-label={"Topic " + (i + 1)}>
                  <input aria-label={"Topic " + (i + 1)} value={o.label ?? ""} onInput={(e) => set({ prechat: { ...prechat, options: options.map((x, j) => (j === i ? { ...x, label: e.currentTarget.value } : x)) } })} />
                  <select aria-label={"Queue of topic " + (i + 1)} value={o.queue ?? ""} onChange={(e) => set({ prechat: { ...prechat, options: options.map((x, j) => (j === i ? { ...x, queue: e.currentTarget.value } : x)) } })}>
                    {queues.map((q) => (
                      <option value={q.id}>{q.name}</option>
                    ))}
                  </select>
                  <button type="button" class="link" onClick={() => set({ prechat: { ...prechat, options: options.filter((_, j) => j !== i) } })}>
                    Remove
                  </button>
                </div>
              ))}
              {options.length < 10 && (
                <button type="button" class="secondary" onClick={() => set({ prechat: { ...prechat, options: [...options, { label: "", queue: queues[0]?.id ?? "" }] } })}>
                  + Topic
                </button>
              )}
            </>
          )}
        </fieldset>
        <fieldset>
          <legend>When the visitor stops answering</legend>
          <div class="row">
            <label>
              Warn after (seconds, 0: never){" "}
              <input type="number" class="short" value={s.inactivity?.warn_after ?? 0} onInput={(e) => set({ inactivity: { ...s.inactivity, warn_after: Number(e.currentTarget.value) } })} />
            </label>
            <label>
              Close after (seconds, 0: never){" "}
              <input type="number" class="short" value={s.inactivity?.close_after ?? 0} onInput={(e) => set({ inactivity: { ...s.inactivity, close_after: Number(e.currentTarget.value) } })} />
            </label>
          </div>
        </fieldset>
        <fieldset>
          <legend>After the chat</legend>
          <label class="inline">
            <input type="checkbox" checked={!!s.csat} onChange={(e) => set({ csat: e.currentTarget.checked })} /> Ask the visitor to rate the chat (CSAT, 1 to 5)
          </label>
          <label for="set-dispositions">Dispositions agents pick when closing (one a line; none: free text)</label>
          <textarea id="set-dispositions" value={(s.dispositions ?? []).join("\n")} onChange={(e) => set({ dispositions: lines(e.currentTarget.value) })} />
          <label for="set-retention">Delete closed chats after this many days, from the transcripts and the search index (0: keep them)</label>
          <input id="set-retention" type="number" min={0} max={3650} value={s.transcript_retention_days ?? 0} onInput={(e) => set({ transcript_retention_days: Number(e.currentTarget.value) || 0 })} />
        </fieldset>
        <fieldset>
          <legend>Masking</legend>
          <label class="inline">
            <input type="checkbox" checked={s.mask_cards !== false} onChange={(e) => set({ mask_cards: e.currentTarget.checked })} /> Mask payment card numbers
          </label>
          <label for="set-patterns">More patterns to mask (RE2 regular expressions, one a line)</label>
          <textarea id="set-patterns" class="json small" spellcheck={false} value={(s.patterns ?? []).join("\n")} onChange={(e) => set({ patterns: lines(e.currentTarget.value) })} />
          <label for="set-sample">Test text</label>
          <div class="row">
            <input id="set-sample" value={sample} onInput={(e) => setSample(e.currentTarget.value)} />
            <button type="button" class="secondary" onClick={test}>
              Test the masking
            </button>
          </div>
          {masked && (
            <p class="notice" aria-label="Masked text">
              {masked}
            </p>
          )}
        </fieldset>
        <Alert error={error} />
        {saved && (
          <p class="notice" role="status">
            Saved.
          </p>
        )}
        <button type="submit">Save the settings</button>
      </form>
    </Section>
  );
}

const weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

// QueueForm creates or edits a queue: routing, skills, timeouts, overflow,
// maximum wait and business hours (spans per weekday, closed dates).
export function QueueForm({ queue, queues, onDone }: { queue: Queue | null; queues: Queue[]; onDone: () => void }) {
  const [name, setName] = useState(queue?.name ?? "");
  const [c, setC] = useState<QueueConfig>(queue?.config ?? { routing: "longest_idle", skills: [], offer_timeout: 30 });
  const [error, setError] = useState<unknown>();
  const set = (p: Partial<QueueConfig>) => setC({ ...c, ...p });
  const hours = c.hours ?? null;
  const setHours = (h: Partial<Hours> | null) => set({ hours: h === null ? null : { ...(hours ?? { time_zone: "UTC", week: {} }), ...h } });
  const week = hours?.week ?? {};
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      await (queue ? api("PATCH", "/api/queues/" + queue.id, { name, config: c }) : api("POST", "/api/queues", { name, config: c }));
      setError(undefined);
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} aria-label={queue ? "Edit queue " + queue.name : "New queue"} class="wide">
      <h3>{queue ? "Edit " + queue.name : "New queue"}</h3>
      <label for="queue-name">Name</label>
      <input id="queue-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      <label for="queue-routing">Routing</label>
      <select id="queue-routing" value={c.routing ?? "longest_idle"} onChange={(e) => set({ routing: e.currentTarget.value as QueueConfig["routing"] })}>
        <option value="longest_idle">longest idle agent</option>
        <option value="least_busy">least busy agent</option>
        <option value="skills">agents with the skills</option>
        <option value="last_agent">the visitor's last agent</option>
      </select>
      <label for="queue-skills">Skills (comma-separated, for skill routing)</label>
      <input id="queue-skills" value={(c.skills ?? []).join(", ")} onChange={(e) => set({ skills: e.currentTarget.value.split(",").map((s) => s.trim()).filter(Boolean) })} />
      <div class="row">
        <label>
          Offer timeout (s) <input type="number" class="short" min={5} max={600} value={c.offer_timeout ?? 30} onInput={(e) => set({ offer_timeout: Number(e.currentTarget.value) })} />
        </label>
        <label>
          Offline form after (s, 0: never) <input type="number" class="short" value={c.max_wait ?? 0} onInput={(e) => set({ max_wait: Number(e.currentTarget.value) })} />
        </label>
      </div>
      <div class="row">
        <label>
          Overflow to{" "}
          <select aria-label="Overflow queue" value={c.overflow_queue ?? ""} onChange={(e) => set({ overflow_queue: e.currentTarget.value })}>
            <option value="">(no overflow)</option>
            {queues.filter((q) => q.id !== queue?.id).map((q) => (
              <option value={q.id}>{q.name}</option>
            ))}
          </select>
        </label>
        <label>
          after (s) <input type="number" class="short" value={c.overflow_after ?? 0} onInput={(e) => set({ overflow_after: Number(e.currentTarget.value) })} />
        </label>
      </div>
      <fieldset>
        <legend>Business hours</legend>
        <label class="inline">
          <input type="checkbox" checked={hours !== null} onChange={(e) => setHours(e.currentTarget.checked ? { time_zone: "UTC", week: Object.fromEntries(weekdays.slice(0, 5).map((d) => [d, [["09:00", "17:00"]]])) } : null)} /> Open only in these hours (outside, visitors get the offline form)
        </label>
        {hours && (
          <>
            <label for="queue-zone">Time zone</label>
            <input id="queue-zone" list="zones" value={hours.time_zone ?? "UTC"} onInput={(e) => setHours({ time_zone: e.currentTarget.value })} />
            <table aria-label="Opening hours">
              <tbody>
                {weekdays.map((d) => {
                  const span = week[d]?.[0];
                  return (
                    <tr>
                      <td>{d}</td>
                      <td>
                        <label class="inline">
                          <input type="checkbox" aria-label={"Open on " + d} checked={!!span} onChange={(e) => setHours({ week: { ...week, [d]: e.currentTarget.checked ? [["09:00", "17:00"]] : [] } })} /> open
                        </label>
                      </td>
                      <td>
                        {span && (
                          <>
                            <input type="time" aria-label={d + " opens"} value={span[0]} onInput={(e) => setHours({ week: { ...week, [d]: [[e.currentTarget.value, span[1] ?? "17:00"]] } })} />
                            {" to "}
                            <input type="time" aria-label={d + " closes"} value={span[1]} onInput={(e) => setHours({ week: { ...week, [d]: [[span[0] ?? "09:00", e.currentTarget.value]] } })} />
                          </>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <label for="queue-closed">Closed dates (YYYY-MM-DD, one a line)</label>
            <textarea id="queue-closed" value={(hours.closed ?? []).join("\n")} onChange={(e) => setHours({ closed: lines(e.currentTarget.value) })} />
          </>
        )}
      </fieldset>
      <Alert error={error} />
      <div class="row">
        <button type="submit">{queue ? "Save the queue" : "Create queue"}</button>
        {queue && (
          <button type="button" class="secondary" onClick={onDone}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

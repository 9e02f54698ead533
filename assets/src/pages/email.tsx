// Email: the tenant's SMTP server (the password is write-only), which mail
// nudge sends, a test email that answers at once, and the delivery log with
// a retry for what failed.
import { useEffect, useState } from "preact/hooks";
import { api, may } from "../api";
import type { Me, PageOf } from "../api";
import type { EmailSettings, EmailSettingsInput, MailDelivery } from "../api.gen";
import { Field, otherThan, useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad, when } from "../ui";

const kinds: Record<string, string> = {
  transcript: "Transcript",
  offline: "Left message",
  missed: "Missed chat",
  test: "Test",
};

export function Email({ me }: { me: Me }) {
  const write = may(me, "email:write");
  const [saved, loadError] = useLoad(() => api<EmailSettings>("GET", "/api/email/settings"), [me.tenant_id]);
  const [s, setS] = useState<EmailSettings>();
  const [password, setPassword] = useState("");
  const [notice, setNotice] = useState("");
  const [to, setTo] = useState(me.user.email);
  const [status, setStatus] = useState("");
  const [log, logError, reloadLog] = useLoad(
    () => api<PageOf<MailDelivery>>("GET", "/api/email/deliveries?limit=100" + (status ? "&status=" + status : "")),
    [me.tenant_id, status],
  );
  const act = useAction(reloadLog);
  const test = useAction();
  useEffect(() => setS(saved), [saved]);
  const set = (p: Partial<EmailSettings>) => setS((old) => old && { ...old, ...p });

  const save = (e: Event) => {
    e.preventDefault();
    if (!s) return;
    const { password_set: _, ...rest } = s;
    const body: EmailSettingsInput = password ? { ...rest, password } : rest;
    act.run(async () => {
      setS(await api<EmailSettings>("PUT", "/api/email/settings", body));
      setPassword("");
      setNotice("Saved.");
    });
  };
  const sendTest = async (e: Event) => {
    e.preventDefault();
    setNotice("");
    await test.run(async () => {
      await api<MailDelivery>("POST", "/api/email/test", { to });
      setNotice("The test email was sent to " + to + ".");
    });
    reloadLog(); // sent or not, the log has it
  };
  const retry = (m: MailDelivery) => act.run(() => api("POST", "/api/email/deliveries/" + m.id + "/retry"));

  return (
    <Section title="Email">
      <Alert error={loadError} />
      {s && (
        <form onSubmit={save} aria-label="Email settings">
          <p class="hint">
            nudge sends mail through your SMTP server: a visitor's transcript when they ask at the end of a chat, messages left on the offline form, and missed
            chats.
          </p>
          <label class="inline">
            <input type="checkbox" checked={s.enabled} disabled={!write} onChange={(e) => set({ enabled: e.currentTarget.checked })} /> Send email
          </label>
          <Field id="mail-host" label="SMTP server" name="host" error={act.error}>
            <input id="mail-host" value={s.host} disabled={!write} onInput={(e) => set({ host: e.currentTarget.value })} required maxLength={253} placeholder="smtp.example.com" />
          </Field>
          <Field id="mail-security" label="Security">
            <select id="mail-security" value={s.security} disabled={!write} onChange={(e) => set({ security: e.currentTarget.value as EmailSettings["security"], port: 0 })}>
              <option value="starttls">STARTTLS (port 587)</option>
              <option value="tls">TLS (port 465)</option>
              <option value="none">None: a relay on a trusted network (port 25)</option>
            </select>
          </Field>
          <Field id="mail-port" label="Port" hint="0: the security's usual port">
            <input id="mail-port" type="number" min={0} max={65535} value={s.port} disabled={!write} onInput={(e) => set({ port: Number(e.currentTarget.value) })} />
          </Field>
          <Field id="mail-user" label="User name">
            <input id="mail-user" value={s.username} disabled={!write} autocomplete="off" onInput={(e) => set({ username: e.currentTarget.value })} maxLength={256} />
          </Field>
          <Field id="mail-password" label="Password" hint={s.password_set ? "Set. Type a new one to change it." : "Not set."}>
            <input id="mail-password" type="password" value={password} disabled={!write} autocomplete="new-password" onInput={(e) => setPassword(e.currentTarget.value)} />
          </Field>
          <Field id="mail-from" label="Sender's address" name="from" error={act.error}>
            <input id="mail-from" type="email" value={s.from} disabled={!write} onInput={(e) => set({ from: e.currentTarget.value })} required placeholder="help@example.com" />
          </Field>
          <Field id="mail-from-name" label="Sender's name">
            <input id="mail-from-name" value={s.from_name} disabled={!write} onInput={(e) => set({ from_name: e.currentTarget.value })} maxLength={200} />
          </Field>
          <Field id="mail-notify" label="Notification address" hint="Left messages and missed chats go here; empty: to the queue's agents and supervisors.">
            <input id="mail-notify" type="email" value={s.notify_address} disabled={!write} onInput={(e) => set({ notify_address: e.currentTarget.value })} />
          </Field>
          <fieldset>
            <legend>Send</legend>
            <label class="inline">
              <input type="checkbox" checked={s.transcripts} disabled={!write} onChange={(e) => set({ transcripts: e.currentTarget.checked })} /> transcripts to visitors who
              ask
            </label>
            <label class="inline">
              <input type="checkbox" checked={s.offline_messages} disabled={!write} onChange={(e) => set({ offline_messages: e.currentTarget.checked })} /> messages left on
              the offline form
            </label>
            <label class="inline">
              <input type="checkbox" checked={s.missed_chats} disabled={!write} onChange={(e) => set({ missed_chats: e.currentTarget.checked })} /> missed chats
            </label>
          </fieldset>
          <Alert error={otherThan(act.error, "host", "from")} />
          {write && (
            <button type="submit" disabled={act.busy}>
              Save
            </button>
          )}
        </form>
      )}
      {write && (
        <form onSubmit={sendTest} aria-label="Send a test email">
          <Field id="mail-test-to" label="Send a test email to">
            <input id="mail-test-to" type="email" value={to} onInput={(e) => setTo(e.currentTarget.value)} required />
          </Field>
          <button type="submit" class="secondary" disabled={test.busy}>
            {test.busy ? "Sending…" : "Send test email"}
          </button>
          <Alert error={test.error} />
        </form>
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <h3>Delivery log</h3>
      <label class="inline">
        Show
        <select aria-label="Show" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          <option value="">everything</option>
          <option value="failed">failed</option>
          <option value="pending">waiting for a retry</option>
          <option value="sent">sent</option>
        </select>
      </label>
      <Table
        label="Delivery log"
        rows={log?.items}
        error={logError}
        retry={reloadLog}
        rowKey={(m) => m.id}
        empty="No email yet."
        columns={[
          { title: "When", cell: (m) => when(m.created_at) },
          { title: "What", cell: (m) => kinds[m.kind] ?? m.kind },
          { title: "To", cell: (m) => m.to.join(", ") },
          { title: "Subject", cell: (m) => m.subject },
          {
            title: "Status",
            cell: (m) =>
              m.status === "pending" && m.last_error ? (
                <span>
                  retrying {when(m.next_attempt_at)}: {m.last_error}
                </span>
              ) : m.status === "failed" ? (
                <span>failed: {m.last_error}</span>
              ) : (
                m.status
              ),
          },
          {
            title: "Actions",
            cell: (m) =>
              write && m.status === "failed" ? (
                <button class="link" onClick={() => retry(m)} aria-label={"Send again to " + m.to.join(", ")}>
                  Send again
                </button>
              ) : null,
          },
        ]}
      />
    </Section>
  );
}

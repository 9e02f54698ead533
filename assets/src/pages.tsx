import { useState } from "preact/hooks";
import { api, may, roles } from "./api";
import type { AuditEntry, Invitation, Me, Member, PageOf, Role, Site, Snippet, Token } from "./api";
import { Alert, Section, useLoad, when } from "./ui";

export function Members({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Member>>("GET", "/api/members?limit=200"), [me.tenant_id]);
  const editable = may(me, "members:write");
  const [formError, setFormError] = useState<unknown>();
  const run = async (f: () => Promise<unknown>) => {
    try {
      await f();
      setFormError(undefined);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  return (
    <Section title="Members">
      <Alert error={error} />
      <Alert error={formError} />
      <table>
        <thead>
          <tr>
            <th>Email</th>
            <th>Name</th>
            <th>Role</th>
            {editable && <th>Actions</th>}
          </tr>
        </thead>
        <tbody>
          {page?.items.map((m) => (
            <tr key={m.id}>
              <td>{m.email}</td>
              <td>{m.name}</td>
              <td>
                {editable ? (
                  <select
                    aria-label={"Role of " + m.email}
                    value={m.role}
                    onChange={(e) => run(() => api("PATCH", "/api/members/" + m.id, { role: e.currentTarget.value }))}
                  >
                    {roles.map((r) => (
                      <option value={r}>{r}</option>
                    ))}
                  </select>
                ) : (
                  m.role
                )}
              </td>
              {editable && (
                <td>
                  <button class="link" onClick={() => run(() => api("DELETE", "/api/members/" + m.id))}>
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {editable && <Invitations me={me} />}
    </Section>
  );
}

// Invitations: nobody joins a tenant without accepting a link, which the
// inviter passes on (it is shown once).
function Invitations({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Invitation>>("GET", "/api/invitations?limit=50"), [me.tenant_id]);
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("agent");
  const [days, setDays] = useState("7");
  const [link, setLink] = useState<{ email: string; url: string; expires: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const [formError, setFormError] = useState<unknown>();
  const invite = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api<{ invitation: Invitation; url: string }>("POST", "/api/invitations", { email, role, expires_in_days: Number(days) });
      setLink({ email: r.invitation.email, url: r.url, expires: r.invitation.expires_at });
      setCopied(false);
      setEmail("");
      setFormError(undefined);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  const revoke = async (id: string) => {
    try {
      await api("DELETE", "/api/invitations/" + id);
      setFormError(undefined);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  const copy = () => {
    if (!link) return;
    navigator.clipboard?.writeText(link.url).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <>
      <form onSubmit={invite} aria-label="Invite someone">
        <h3>Invite someone</h3>
        <label for="invite-email">Email</label>
        <input id="invite-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        <label for="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          {roles.filter((r) => r !== "owner" || me.role === "owner").map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
        <label for="invite-days">Valid for</label>
        <select id="invite-days" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
          {["1", "7", "14", "30"].map((d) => (
            <option value={d}>{d === "1" ? "1 day" : d + " days"}</option>
          ))}
        </select>
        <Alert error={formError} />
        <button type="submit">Create invitation link</button>
      </form>
      {link && (
        <div class="invite-link" role="status">
          <p>
            Send this link to <strong>{link.email}</strong>. It works once, until {when(link.expires)}, and is not shown again.
          </p>
          <input aria-label="Invitation link" readOnly value={link.url} onFocus={(e) => e.currentTarget.select()} />
          <button type="button" onClick={copy}>
            {copied ? "Copied" : "Copy link"}
          </button>
        </div>
      )}
      <h3>Invitations</h3>
      <Alert error={error} />
      {page && page.items.length === 0 ? (
        <p>No invitations yet.</p>
      ) : (
        <table aria-label="Invitations">
          <thead>
            <tr>
              <th>Email</th>
              <th>Role</th>
              <th>Status</th>
              <th>Expires</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td>
                <td>{i.role}</td>
                <td>{i.status}</td>
                <td>{i.status === "pending" ? when(i.expires_at) : ""}</td>
                <td>
                  {i.status === "pending" && (
                    <button class="link" onClick={() => revoke(i.id)} aria-label={"Revoke the invitation of " + i.email}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

export function Tokens({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Token>>("GET", "/api/tokens?limit=200"), [me.tenant_id]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("bot");
  const [days, setDays] = useState("90");
  const [secret, setSecret] = useState("");
  const [copied, setCopied] = useState(false);
  const [formError, setFormError] = useState<unknown>();
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const expires_at = days === "" ? undefined : new Date(Date.now() + Number(days) * 86400000).toISOString();
      const res = await api<{ secret: string }>("POST", "/api/tokens", { name, role, expires_at });
      setSecret(res.secret);
      setCopied(false);
      setName("");
      setFormError(undefined);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  const revoke = async (t: Token) => {
    if (!confirm("Revoke the token " + t.name + "? What uses it stops working at once.")) return;
    try {
      await api("DELETE", "/api/tokens/" + t.id);
      reload();
    } catch (err) {
      setFormError(err);
    }
  };
  return (
    <Section title="API tokens">
      <Alert error={error} />
      {secret && (
        <div class="notice" role="status">
          Copy this token now; it is not shown again: <code>{secret}</code>{" "}
          <button type="button" class="secondary" onClick={() => navigator.clipboard?.writeText(secret).then(() => setCopied(true), () => setCopied(false))}>
            {copied ? "Copied" : "Copy"}
          </button>
        </div>
      )}
      {page && page.items.length === 0 ? (
        <p class="empty">No tokens. A token lets a program (a bot, your backend) use the API with a role.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Role</th>
              <th>Last used</th>
              <th>Expires</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((t) => (
              <tr key={t.id}>
                <td>{t.name}</td>
                <td>{t.role}</td>
                <td>{when(t.last_used_at)}</td>
                <td>{t.expires_at ? when(t.expires_at) : "never"}</td>
                <td>
                  <button class="link" onClick={() => revoke(t)}>
                    Revoke
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form onSubmit={create} aria-label="New token">
        <h3>New token</h3>
        <label for="token-name">Name</label>
        <input id="token-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <label for="token-role">Role</label>
        <select id="token-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
          {roles.filter((r) => r !== "owner" || me.role === "owner").map((r) => (
            <option value={r}>{r}</option>
          ))}
        </select>
        <label for="token-expiry">Expires</label>
        <select id="token-expiry" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
          <option value="30">in 30 days</option>
          <option value="90">in 90 days</option>
          <option value="365">in a year</option>
          <option value="">never</option>
        </select>
        <Alert error={formError} />
        <button type="submit">Create token</button>
      </form>
    </Section>
  );
}

const auditKinds = ["", "member.", "invitation.", "site.", "token.", "rule.", "template.", "queue.", "chat_settings.", "webhook.", "visitor.", "user."];

export function Audit({ me }: { me: Me }) {
  const [action, setAction] = useState("");
  const [actor, setActor] = useState("");
  const [cursor, setCursor] = useState("");
  const q = "?limit=50" + (action ? "&action=" + encodeURIComponent(action) : "") + (actor ? "&actor=" + encodeURIComponent(actor) : "") + (cursor ? "&cursor=" + cursor : "");
  const [page, error] = useLoad(() => api<PageOf<AuditEntry>>("GET", "/api/audit" + q), [me.tenant_id, q]);
  const [members] = useLoad(() => api<PageOf<Member>>("GET", "/api/members?limit=200"), [me.tenant_id]);
  const [tokens] = useLoad(() => api<PageOf<Token>>("GET", "/api/tokens?limit=200"), [me.tenant_id]);
  // Names instead of ids, where the tenant still has them.
  const names = new Map<string, string>();
  for (const m of members?.items ?? []) names.set("user:" + m.id, m.name || m.email);
  for (const t of tokens?.items ?? []) names.set("token:" + t.id, "token " + t.name);
  names.set("system:nudge", "nudge (the system)");
  const actorName = (a: string) => names.get(a) ?? a;
  const target = (e: AuditEntry) => (e.target_type === "user" ? names.get("user:" + e.target_id) ?? e.target_id : e.target_id);
  return (
    <Section title="Audit log">
      <form class="range" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
        <label>
          What{" "}
          <select value={action} onChange={(e) => (setAction(e.currentTarget.value), setCursor(""))}>
            {auditKinds.map((k) => (
              <option value={k}>{k ? k.replace(".", "") : "everything"}</option>
            ))}
          </select>
        </label>
        <label>
          Who{" "}
          <select value={actor} onChange={(e) => (setActor(e.currentTarget.value), setCursor(""))}>
            <option value="">anyone</option>
            {[...names.entries()].map(([id, n]) => (
              <option value={id}>{n}</option>
            ))}
          </select>
        </label>
      </form>
      <Alert error={error} />
      {page && page.items.length === 0 ? (
        <p class="empty">Nothing recorded{action || actor ? " with these filters" : ""}.</p>
      ) : (
        <table aria-label="Audit log">
          <thead>
            <tr>
              <th>When</th>
              <th>Who</th>
              <th>What</th>
              <th>On</th>
              <th>Details</th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((a) => (
              <tr key={a.id}>
                <td>{when(a.created_at)}</td>
                <td title={a.actor}>{actorName(a.actor)}</td>
                <td>{a.action}</td>
                <td title={a.target_id}>
                  {a.target_type} {target(a)}
                </td>
                <td>
                  <small class="muted">
                    {Object.entries(a.detail ?? {})
                      .map(([k, v]) => k + ": " + (typeof v === "string" ? v : JSON.stringify(v)))
                      .join(", ")}
                  </small>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {page?.next_cursor && (
        <button class="secondary" onClick={() => setCursor(page.next_cursor)}>
          Older entries
        </button>
      )}
    </Section>
  );
}

export function Account({ me }: { me: Me }) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>();
  const change = async (e: Event) => {
    e.preventDefault();
    try {
      await api("PUT", "/api/me/password", { current_password: current, new_password: next });
      setDone(true);
      setError(undefined);
      setCurrent("");
      setNext("");
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Section title="Account">
      <p>
        Signed in as <strong>{me.user.email}</strong>.
      </p>
      <form onSubmit={change} aria-label="Change password">
        <h3>Change password</h3>
        <label for="pw-current">Current password</label>
        <input id="pw-current" type="password" autocomplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} required />
        <label for="pw-new">New password (8 characters or more)</label>
        <input id="pw-new" type="password" autocomplete="new-password" value={next} onInput={(e) => setNext(e.currentTarget.value)} required />
        <Alert error={error} />
        {done && <p role="status">Password changed; your other sessions have ended.</p>}
        <button type="submit">Change password</button>
      </form>
    </Section>
  );
}

function splitList(s: string): string[] {
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

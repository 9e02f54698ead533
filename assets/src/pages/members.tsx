// Members of the tenant and their roles, and the invitations that bring
// people in (a link, accepted by the invited address).
import { useState } from "preact/hooks";
import { api, may, roles } from "../api";
import type { Invitation, Me, Member, PageOf, Role } from "../api";
import { CopyButton } from "../components/copy";
import { Alert, Section, useLoad, when } from "../ui";

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
  const [formError, setFormError] = useState<unknown>();
  const invite = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api<{ invitation: Invitation; url: string }>("POST", "/api/invitations", { email, role, expires_in_days: Number(days) });
      setLink({ email: r.invitation.email, url: r.url, expires: r.invitation.expires_at });
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
          <CopyButton text={link.url} label="Copy link" />
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

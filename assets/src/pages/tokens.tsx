// API tokens: a role for a program, with an expiry; the secret is shown once.
import { useState } from "preact/hooks";
import { api, roles } from "../api";
import type { Me, PageOf, Role, Token } from "../api";
import { CopyButton } from "../components/copy";
import { Alert, Section, useLoad, when } from "../ui";

export function Tokens({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Token>>("GET", "/api/tokens?limit=200"), [me.tenant_id]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("bot");
  const [days, setDays] = useState("90");
  const [secret, setSecret] = useState("");
  const [formError, setFormError] = useState<unknown>();
  const create = async (e: Event) => {
    e.preventDefault();
    try {
      const expires_at = days === "" ? undefined : new Date(Date.now() + Number(days) * 86400000).toISOString();
      const res = await api<{ secret: string }>("POST", "/api/tokens", { name, role, expires_at });
      setSecret(res.secret);
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
          <CopyButton text={secret} label="Copy" class="secondary" />
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

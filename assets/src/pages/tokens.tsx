// API tokens: a role for a program, with an expiry; the secret is shown once.
import { useState } from "preact/hooks";
import { api, roles } from "../api";
import type { Me, PageOf, Role, Token } from "../api";
import { CopyButton } from "../components/copy";
import { confirm } from "../components/dialog";
import { Field, otherThan, useAction } from "../components/form";
import { Table } from "../components/table";
import { Alert, Section, useLoad, when } from "../ui";

export function Tokens({ me }: { me: Me }) {
  const [page, error, reload] = useLoad(() => api<PageOf<Token>>("GET", "/api/tokens?limit=200"), [me.tenant_id]);
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>("bot");
  const [days, setDays] = useState("90");
  const [secret, setSecret] = useState("");
  const act = useAction(reload);
  const create = (e: Event) => {
    e.preventDefault();
    act.run(async () => {
      const expires_at = days === "" ? undefined : new Date(Date.now() + Number(days) * 86400000).toISOString();
      setSecret((await api<{ secret: string }>("POST", "/api/tokens", { name, role, expires_at })).secret);
      setName("");
    });
  };
  const revoke = async (t: Token) => {
    if (await confirm("Revoke the token " + t.name + "?", "What uses it stops working at once.", "Revoke")) act.run(() => api("DELETE", "/api/tokens/" + t.id));
  };
  return (
    <Section title="API tokens">
      {secret && (
        <div class="notice" role="status">
          Copy this token now; it is not shown again: <code>{secret}</code> <CopyButton text={secret} label="Copy" class="secondary" />
        </div>
      )}
      <Table
        label="API tokens"
        rows={page?.items}
        error={error}
        retry={reload}
        rowKey={(t) => t.id}
        empty="No tokens. A token lets a program (a bot, your backend) use the API with a role."
        columns={[
          { title: "Name", cell: (t) => t.name },
          { title: "Role", cell: (t) => t.role },
          { title: "Last used", cell: (t) => when(t.last_used_at) },
          { title: "Expires", cell: (t) => (t.expires_at ? when(t.expires_at) : "never") },
          {
            title: "Actions",
            cell: (t) => (
              <button class="link" onClick={() => revoke(t)} aria-label={"Revoke " + t.name}>
                Revoke
              </button>
            ),
          },
        ]}
      />
      <form onSubmit={create} aria-label="New token">
        <h3>New token</h3>
        <Field id="token-name" label="Name" name="name" error={act.error}>
          <input id="token-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={100} />
        </Field>
        <Field id="token-role" label="Role" name="role" error={act.error}>
          <select id="token-role" value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {roles.filter((r) => r !== "owner" || me.role === "owner").map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        <Field id="token-expiry" label="Expires">
          <select id="token-expiry" value={days} onChange={(e) => setDays(e.currentTarget.value)}>
            <option value="30">in 30 days</option>
            <option value="90">in 90 days</option>
            <option value="365">in a year</option>
            <option value="">never</option>
          </select>
        </Field>
        <Alert error={otherThan(act.error, "name", "role")} />
        <button type="submit" disabled={act.busy}>
          Create token
        </button>
      </form>
    </Section>
  );
}

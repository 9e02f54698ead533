// ConditionEditor builds a rule's condition without JSON: groups (all of /
// any of, nested), tests (a fact, an operator, a value) and NOT, from the
// server's catalogue of facts and operators. It edits the rule's JSON node
// itself, so the JSON view and the builder always agree.
import type { RuleCatalogue } from "../api.gen";

export type Node = Record<string, unknown>;

export const isGroup = (n: Node) => Array.isArray(n.all) || Array.isArray(n.any);

// A patterned fact (vars.NAME…) splits into its pattern and the name given.
export function splitFact(fact: string, cat: RuleCatalogue): { pattern: string; name: string } {
  for (const f of cat.facts) {
    if (!f.name.includes("NAME")) continue;
    const [pre, post] = f.name.split("NAME") as [string, string];
    if (fact.startsWith(pre) && fact.endsWith(post) && fact.length > pre.length + post.length) {
      return { pattern: f.name, name: fact.slice(pre.length, fact.length - post.length) };
    }
  }
  return { pattern: fact, name: "" };
}

const opLabels: Record<string, string> = {
  eq: "is",
  neq: "is not",
  lt: "is below",
  lte: "is at most",
  gt: "is above",
  gte: "is at least",
  in: "is one of",
  not_in: "is none of",
  contains: "contains",
  starts_with: "starts with",
  ends_with: "ends with",
  glob: "matches",
  exists: "exists",
};

function typeOf(pattern: string, cat: RuleCatalogue): string {
  return cat.facts.find((f) => f.name === pattern)?.type ?? "string";
}

// errs are the server's objections by JSON path; a node shows its own.
export function ConditionEditor(props: { node: Node; onChange: (n: Node) => void; onRemove?: () => void; cat: RuleCatalogue; depth: number; path: string; errs?: Record<string, string> }) {
  const { cat, depth } = props;
  const errs = props.errs ?? {};
  // NOT wraps any node: shown as a box on the node it negates.
  const negated = props.node.not !== undefined;
  const node = (negated ? props.node.not : props.node) as Node;
  const set = (n: Node) => props.onChange(negated ? { not: n } : n);
  const toggleNot = () => props.onChange(negated ? node : { not: node });
  const head = (
    <label class="not">
      <input type="checkbox" checked={negated} onChange={toggleNot} /> not
    </label>
  );
  const remove = props.onRemove && (
    <button type="button" class="link" aria-label={"Remove " + props.path} onClick={props.onRemove}>
      Remove
    </button>
  );
  if (isGroup(node)) {
    const kind = Array.isArray(node.all) ? "all" : "any";
    const kids = (node[kind] as Node[]) || [];
    const own = [props.path, props.path + ".not", props.path + "." + kind, props.path + ".not." + kind].map((p) => errs[p]).filter(Boolean);
    const setKids = (k: Node[]) => set({ [kind]: k });
    return (
      <div class={"group" + (negated ? " negated" : "")} role="group" aria-label={"Condition group " + props.path}>
        <div class="row">
          {head}
          <select aria-label={"Match " + props.path} value={kind} onChange={(e) => set({ [e.currentTarget.value]: kids })}>
            <option value="all">all of these</option>
            <option value="any">any of these</option>
          </select>
          {remove}
        </div>
        {own.length > 0 && (
          <p class="field-error" role="alert">
            {own.join(" ")}
          </p>
        )}
        {kids.length === 0 && <p class="muted">{kind === "all" ? "Always true: every visitor qualifies." : "Never true: add a condition."}</p>}
        {kids.map((k, i) => (
          <ConditionEditor
            key={i}
            node={k}
            cat={cat}
            depth={depth + 1}
            path={(negated ? props.path + ".not" : props.path) + "." + kind + "[" + i + "]"}
            errs={errs}
            onChange={(n) => setKids(kids.map((x, j) => (j === i ? n : x)))}
            onRemove={() => setKids(kids.filter((_, j) => j !== i))}
          />
        ))}
        <div class="row">
          <button type="button" class="secondary" onClick={() => setKids([...kids, { fact: "page.path", op: "starts_with", value: "/" }])}>
            + Condition
          </button>
          {depth < 5 && (
            <button type="button" class="secondary" onClick={() => setKids([...kids, { any: [] }])}>
              + Group
            </button>
          )}
        </div>
      </div>
    );
  }
  const fact = String(node.fact ?? "");
  const { pattern, name } = splitFact(fact, cat);
  const ftype = typeOf(pattern, cat);
  const op = String(node.op ?? "eq");
  const ops = Object.keys(cat.operators)
    .filter((o) => ftype === "any" || (cat.operators[o] ?? []).some((t) => t === ftype))
    .sort((a, b) => Object.keys(opLabels).indexOf(a) - Object.keys(opLabels).indexOf(b));
  const setFact = (p: string, n: string) => {
    const f = p.includes("NAME") ? p.replace("NAME", n) : p;
    const t = typeOf(p, cat);
    const okOp = t === "any" || (cat.operators[op] ?? []).some((x) => x === t);
    const nextOp = okOp ? op : t === "number" ? "gte" : t === "boolean" ? "eq" : "contains";
    let value = node.value;
    if (t === "number" && typeof value !== "number") value = 0;
    if (t === "boolean" && typeof value !== "boolean") value = true;
    if (t === "string" && typeof value !== "string" && nextOp !== "in" && nextOp !== "not_in") value = "";
    set({ fact: f, op: nextOp, value });
  };
  return (
    <div class={"test" + (negated ? " negated" : "")} role="group" aria-label={"Condition " + props.path}>
      {head}
      <select aria-label={"Fact of " + props.path} value={pattern} onChange={(e) => setFact(e.currentTarget.value, name || "name")}>
        {cat.facts.map((f) => (
          <option value={f.name} title={f.source}>
            {f.name}
          </option>
        ))}
      </select>
      {pattern.includes("NAME") && (
        <input aria-label={"Name in " + pattern} class="short" value={name} onInput={(e) => setFact(pattern, e.currentTarget.value)} />
      )}
      <select aria-label={"Operator of " + props.path} value={op} onChange={(e) => set({ ...node, op: e.currentTarget.value, value: valueFor(e.currentTarget.value, ftype, node.value) })}>
        {ops.map((o) => (
          <option value={o}>{opLabels[o] ?? o}</option>
        ))}
      </select>
      <ValueInput op={op} type={ftype} value={node.value} path={props.path} onChange={(v) => set({ ...node, value: v })} />
      {remove}
      {leafErrors(errs, props.path).length > 0 && (
        <p class="field-error" role="alert">
          {leafErrors(errs, props.path).join(" ")}
        </p>
      )}
    </div>
  );
}

// valueFor keeps a value that suits a new operator, or gives one that does.
function valueFor(op: string, type: string, v: unknown): unknown {
  if (op === "exists") return true;
  if (op === "in" || op === "not_in") return Array.isArray(v) ? v : v === undefined || v === "" ? [] : [v];
  if (Array.isArray(v)) return v[0] ?? (type === "number" ? 0 : "");
  return v;
}

function ValueInput(props: { op: string; type: string; value: unknown; path: string; onChange: (v: unknown) => void }) {
  const { op, type, value } = props;
  const label = "Value of " + props.path;
  if (op === "exists") {
    return (
      <select aria-label={label} value={String(value !== false)} onChange={(e) => props.onChange(e.currentTarget.value === "true")}>
        <option value="true">(present)</option>
        <option value="false">(absent)</option>
      </select>
    );
  }
  if (op === "in" || op === "not_in") {
    const list = Array.isArray(value) ? value : [];
    return (
      <input
        aria-label={label}
        placeholder="a, b, c"
        value={list.join(", ")}
        onChange={(e) => {
          const parts = e.currentTarget.value.split(",").map((s) => s.trim()).filter(Boolean);
          props.onChange(type === "number" ? parts.map(Number).filter((n) => !Number.isNaN(n)) : parts);
        }}
      />
    );
  }
  // A custom variable takes any type: the value's own.
  const vtype = type === "any" ? (typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string") : type;
  return (
    <>
      {type === "any" && (
        <select aria-label={"Type of " + label} value={vtype} onChange={(e) => props.onChange(e.currentTarget.value === "number" ? 0 : e.currentTarget.value === "boolean" ? true : "")}>
          <option value="string">text</option>
          <option value="number">number</option>
          <option value="boolean">yes/no</option>
        </select>
      )}
      {vtype === "boolean" ? (
        <select aria-label={label} value={String(value === true)} onChange={(e) => props.onChange(e.currentTarget.value === "true")}>
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : vtype === "number" ? (
        <input aria-label={label} type="number" class="short" value={typeof value === "number" ? value : 0} onInput={(e) => props.onChange(Number(e.currentTarget.value))} />
      ) : (
        <input aria-label={label} value={typeof value === "string" ? value : ""} onInput={(e) => props.onChange(e.currentTarget.value)} />
      )}
    </>
  );
}

// leafErrors are the objections to a test: to it, or to its fact, operator or value.
function leafErrors(errs: Record<string, string>, path: string): string[] {
  return Object.entries(errs)
    .filter(([p]) => p === path || p.startsWith(path + "."))
    .map(([, m]) => m);
}

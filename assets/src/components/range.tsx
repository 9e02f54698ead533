// DateRange picks the days a report covers: presets or two dates, both
// included, as the API takes them (YYYY-MM-DD).
import { useState } from "preact/hooks";

export interface Range {
  from: string;
  to: string;
}

const iso = (d: Date) => d.toISOString().slice(0, 10);

export function lastDays(n: number): Range {
  const to = new Date();
  const from = new Date(to.getTime() - (n - 1) * 86400000);
  return { from: iso(from), to: iso(to) };
}

// previous is the range of the same length just before r.
export function previous(r: Range): Range {
  const from = Date.parse(r.from + "T00:00:00Z");
  const to = Date.parse(r.to + "T00:00:00Z");
  const len = to - from + 86400000;
  return { from: iso(new Date(from - len)), to: iso(new Date(to - len)) };
}

// days lists every date of r.
export function days(r: Range): string[] {
  const out: string[] = [];
  for (let t = Date.parse(r.from + "T00:00:00Z"); t <= Date.parse(r.to + "T00:00:00Z"); t += 86400000) out.push(iso(new Date(t)));
  return out;
}

export function DateRange({ value, onChange }: { value: Range; onChange: (r: Range) => void }) {
  const [from, setFrom] = useState(value.from);
  const [to, setTo] = useState(value.to);
  const presets: [string, number][] = [
    ["7 days", 7],
    ["30 days", 30],
    ["90 days", 90],
  ];
  return (
    <form
      class="range"
      aria-label="Date range"
      onSubmit={(e) => {
        e.preventDefault();
        if (from && to && from <= to) onChange({ from, to });
      }}
    >
      {presets.map(([label, n]) => (
        <button
          type="button"
          class={value.from === lastDays(n).from && value.to === lastDays(n).to ? "" : "secondary"}
          onClick={() => {
            const r = lastDays(n);
            setFrom(r.from);
            setTo(r.to);
            onChange(r);
          }}
        >
          {label}
        </button>
      ))}
      <label>
        From <input type="date" value={from} max={to} onInput={(e) => setFrom(e.currentTarget.value)} />
      </label>
      <label>
        to <input type="date" value={to} min={from} onInput={(e) => setTo(e.currentTarget.value)} />
      </label>
      <button type="submit" class="secondary">
        Show
      </button>
    </form>
  );
}

// The analytics dashboard, in the spirit of Plausible: one chart of visitors
// and pageviews, realtime visitors, every breakdown the API has, filters by
// clicking a row, date ranges compared with the period before, CSV export
// and auto-refresh. An empty dashboard says why (bots dropped, no snippet).
import { useEffect, useState } from "preact/hooks";
import { api } from "../api";
import type { Me, PageOf, ReportRow, Site } from "../api";
import type { BreakdownReport, GoalsReport, RealtimeReport, SummaryReport, TimeseriesReport } from "../api.gen";
import { TimeChart } from "../components/chart";
import type { Series } from "../components/chart";
import { downloadCSV } from "../components/csv";
import { DateRange, days, lastDays, previous } from "../components/range";
import type { Range } from "../components/range";
import { Alert, Section, useLoad } from "../ui";

// Filters the API applies, by its parameter names: clicking a row sets one.
type Filters = Record<string, string>;

const breakdowns: { report: string; title: string; metric: "visits" | "pageviews" | "count"; filter?: string }[] = [
  { report: "pages", title: "Pages", metric: "pageviews", filter: "page" },
  { report: "entry_pages", title: "Entry pages", metric: "visits", filter: "entry_page" },
  { report: "exit_pages", title: "Exit pages", metric: "visits", filter: "exit_page" },
  { report: "sources", title: "Sources", metric: "visits", filter: "source" },
  { report: "referrers", title: "Referrers", metric: "visits", filter: "referrer" },
  { report: "campaigns", title: "Campaigns (utm_campaign)", metric: "visits", filter: "utm_campaign" },
  { report: "utm_sources", title: "utm_source", metric: "visits", filter: "utm_source" },
  { report: "utm_mediums", title: "utm_medium", metric: "visits", filter: "utm_medium" },
  { report: "utm_terms", title: "utm_term", metric: "visits", filter: "utm_term" },
  { report: "utm_contents", title: "utm_content", metric: "visits", filter: "utm_content" },
  { report: "devices", title: "Devices", metric: "visits", filter: "device" },
  { report: "browsers", title: "Browsers", metric: "visits", filter: "browser" },
  { report: "os", title: "Operating systems", metric: "visits", filter: "os" },
  { report: "languages", title: "Languages", metric: "visits", filter: "language" },
  { report: "screens", title: "Screens", metric: "visits", filter: "screen" },
  { report: "events", title: "Events", metric: "count" },
];

const fmtSecs = (s: number) => (s < 60 ? Math.round(s) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s");

function delta(now: number, before: number | undefined): string {
  if (before === undefined) return "";
  if (before === 0) return now === 0 ? "±0 %" : "new";
  const d = Math.round((100 * (now - before)) / before);
  return (d > 0 ? "+" : d < 0 ? "−" : "±") + Math.abs(d) + " %";
}

export function Analytics({ me }: { me: Me }) {
  const [sites] = useLoad(() => api<PageOf<Site>>("GET", "/api/sites?limit=200"), [me.tenant_id]);
  const [siteId, setSiteId] = useState("");
  const [range, setRange] = useState<Range>(lastDays(30));
  const [compare, setCompare] = useState(true);
  const [filters, setFilters] = useState<Filters>({});
  const [auto, setAuto] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!auto) return;
    const t = setInterval(() => setTick((n) => n + 1), 30000);
    return () => clearInterval(t);
  }, [auto]);
  const site = sites?.items.find((s) => s.id === siteId) ?? sites?.items[0];
  const base = site ? "/api/sites/" + site.id + "/reports/" : "";
  const fq = Object.entries(filters)
    .map(([k, v]) => "&" + k + "=" + encodeURIComponent(v))
    .join("");
  const q = (r: Range) => "?from=" + r.from + "&to=" + r.to + fq;
  const prev = previous(range);
  const load = <T,>(path: string) => (base ? api<T>("GET", base + path) : Promise.resolve(undefined));
  const [summary, error] = useLoad(() => load<SummaryReport>("summary" + q(range)), [base, q(range), tick]);
  const [before] = useLoad(() => (compare ? load<SummaryReport>("summary" + q(prev)) : Promise.resolve(undefined)), [base, q(prev), compare, tick]);
  const [series] = useLoad(() => load<TimeseriesReport>("timeseries" + q(range)), [base, q(range), tick]);
  const [seriesBefore] = useLoad(() => (compare ? load<TimeseriesReport>("timeseries" + q(prev)) : Promise.resolve(undefined)), [base, q(prev), compare, tick]);
  const [goals] = useLoad(() => load<GoalsReport>("goals" + q(range)), [base, q(range), tick]);
  if (sites && sites.items.length === 0) return <Section title="Analytics"><p class="empty">Create a site first, and put its snippet on your pages.</p></Section>;
  const dates = days(range);
  const byDay = new Map((series?.items ?? []).map((p) => [p.bucket ?? "", p]));
  const prevPoints = seriesBefore?.items ?? [];
  const chartSeries: Series[] = [
    { label: "Visitors", values: dates.map((d) => byDay.get(d)?.visitors ?? 0), color: "#2563eb" },
    { label: "Pageviews", values: dates.map((d) => byDay.get(d)?.pageviews ?? 0), color: "#16a34a" },
  ];
  if (compare && prevPoints.length) chartSeries.push({ label: "Visitors, previous period", values: dates.map((_, i) => prevPoints[i]?.visitors ?? null), color: "#93c5fd", dash: true });
  const cards: [string, number | undefined, number | undefined, (n: number) => string][] = [
    ["Visitors", summary?.visitors, before?.visitors, String],
    ["Visits", summary?.visits, before?.visits, String],
    ["Pageviews", summary?.pageviews, before?.pageviews, String],
    ["Views per visit", summary?.views_per_visit, before?.views_per_visit, (n) => n.toFixed(1)],
    ["Bounce rate", summary?.bounce_rate, before?.bounce_rate, (n) => Math.round(n) + " %"],
    ["Visit duration", summary?.visit_duration, before?.visit_duration, fmtSecs],
  ];
  return (
    <Section title="Analytics">
      <div class="toolbar">
        {sites && sites.items.length > 1 && (
          <select aria-label="Site" value={site?.id ?? ""} onChange={(e) => (setSiteId(e.currentTarget.value), setFilters({}))}>
            {sites.items.map((s) => (
              <option value={s.id}>{s.name}</option>
            ))}
          </select>
        )}
        {site && <Realtime base={base} tick={tick} />}
        <label class="inline">
          <input type="checkbox" checked={compare} onChange={(e) => setCompare(e.currentTarget.checked)} /> Compare with the previous period
        </label>
        <label class="inline">
          <input type="checkbox" checked={auto} onChange={(e) => setAuto(e.currentTarget.checked)} /> Refresh every 30 s
        </label>
      </div>
      <DateRange value={range} onChange={setRange} />
      {Object.keys(filters).length > 0 && (
        <div class="row filters" aria-label="Filters">
          {Object.entries(filters).map(([k, v]) => (
            <button class="chip" onClick={() => setFilters(({ [k]: _, ...rest }) => rest)} aria-label={"Remove the filter " + k + " " + (v || "(none)")}>
              {k.replace("_", " ")}: {v || "(none)"} ×
            </button>
          ))}
        </div>
      )}
      <Alert error={error} />
      {summary && summary.bots! > 0 && (
        <p class="muted" role="note">
          {summary.bots} events from bots and crawlers were dropped in these days and are not counted.
        </p>
      )}
      {summary && summary.dropped! > 0 && (
        <p class="muted" role="note">
          {summary.dropped!.toLocaleString()} events were not stored in these days: the site's storage budget keeps at most{" "}
          {summary.events_per_day!.toLocaleString()} events a day and none longer than {summary.max_event_bytes!.toLocaleString()} bytes (Sites → the site's
          settings).
        </p>
      )}
      {summary && summary.visits === 0 && (
        <p class="empty">
          No visits in these days{Object.keys(filters).length ? " with these filters" : ""}.{" "}
          {summary.bots! > 0 ? "Only bots came (see above)." : "If the site is new, check that its snippet is on your pages (Sites → Snippet)."}
        </p>
      )}
      <dl class="cards" aria-label="Summary">
        {cards.map(([label, now, was, fmt]) => (
          <div>
            <dt>{label}</dt>
            <dd>{now === undefined ? "…" : fmt(now)}</dd>
            {compare && now !== undefined && <small class="muted">{delta(now, was)}</small>}
          </div>
        ))}
      </dl>
      <TimeChart title="Visitors and pageviews per day" labels={dates} series={chartSeries} />
      <div class="grid">
        {breakdowns.map((b) => (
          <Breakdown key={b.report} base={base} q={q(range)} tick={tick} spec={b} onFilter={b.filter ? (v) => setFilters({ ...filters, [b.filter!]: v }) : undefined} />
        ))}
        <Goals report={goals} />
      </div>
    </Section>
  );
}

function Realtime({ base, tick }: { base: string; tick: number }) {
  const [n, setN] = useState(0);
  const [rt] = useLoad(() => api<RealtimeReport>("GET", base + "realtime"), [base, tick, n]);
  useEffect(() => {
    const t = setInterval(() => setN((x) => x + 1), 10000);
    return () => clearInterval(t);
  }, []);
  return (
    <span class="realtime" aria-label="Visitors now" aria-live="polite">
      <span class="dot available" /> {rt ? rt.visitors : "…"} {rt?.visitors === 1 ? "visitor" : "visitors"} now
    </span>
  );
}

function Breakdown(props: { base: string; q: string; tick: number; spec: (typeof breakdowns)[number]; onFilter?: (v: string) => void }) {
  const { spec } = props;
  const [data, error] = useLoad(() => (props.base ? api<BreakdownReport>("GET", props.base + spec.report + props.q + "&limit=10") : Promise.resolve(undefined)), [props.base, props.q, props.tick]);
  const rows: ReportRow[] = data?.items ?? [];
  const metricName = spec.metric === "count" ? "Count" : spec.metric === "visits" ? "Visits" : "Pageviews";
  const csv = async () => {
    const all = await api<BreakdownReport>("GET", props.base + spec.report + props.q + "&limit=1000");
    downloadCSV(spec.report + ".csv", [spec.title, "Visitors", metricName], (all.items ?? []).map((r) => [r.value ?? "", r.visitors, r[spec.metric] ?? 0]));
  };
  const max = Math.max(1, ...rows.map((r) => r.visitors));
  return (
    <div class="breakdown">
      <div class="row spread">
        <h3>{spec.title}</h3>
        <button class="link" onClick={csv} disabled={!rows.length} aria-label={"Download " + spec.title + " as CSV"}>
          CSV
        </button>
      </div>
      <Alert error={error} />
      <table aria-label={spec.title}>
        <thead>
          <tr>
            <th>{spec.filter ? "Click to filter" : ""}</th>
            <th>Visitors</th>
            <th>{metricName}</th>
          </tr>
        </thead>
        <tbody>
          {data && rows.length === 0 && (
            <tr>
              <td colSpan={3} class="muted">
                Nothing in these days
              </td>
            </tr>
          )}
          {rows.map((r) => (
            <tr key={r.value}>
              <td class="bar" style={{ "--w": (100 * r.visitors) / max + "%" }}>
                {props.onFilter ? (
                  <button class="link" onClick={() => props.onFilter!(r.value || (spec.filter === "source" ? "(direct)" : ""))} aria-label={"Only " + (r.value || "(none)")}>
                    {r.value || "(none)"}
                  </button>
                ) : (
                  r.value || "(none)"
                )}
              </td>
              <td>{r.visitors}</td>
              <td>{r[spec.metric] ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Goals({ report }: { report?: GoalsReport }) {
  const rows = report?.items ?? [];
  return (
    <div class="breakdown">
      <h3>Goals</h3>
      <table aria-label="Goals">
        <thead>
          <tr>
            <th>Goal</th>
            <th>Visitors</th>
            <th>Conversion</th>
          </tr>
        </thead>
        <tbody>
          {report && rows.length === 0 && (
            <tr>
              <td colSpan={3} class="muted">
                No goals: set them in the site's settings.
              </td>
            </tr>
          )}
          {rows.map((g) => (
            <tr>
              <td>{g.event ? "event " + g.event : "page " + g.page}</td>
              <td>{g.visitors}</td>
              <td>{(g.conversion_rate ?? 0).toFixed(1)} %</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// Chat reports for supervisors: conversations, answer rate, waits, handle
// time and CSAT over a date range, by day (a chart), queue and agent, in
// the team's time zone (the chat settings'), each table downloadable.
import { useState } from "preact/hooks";
import { api } from "../api";
import type { Me } from "../api";
import type { ChatAggregate, ChatSummary } from "../api.gen";
import { TimeChart } from "../components/chart";
import { downloadCSV } from "../components/csv";
import { DateRange, days, lastDays } from "../components/range";
import { Table } from "../components/table";
import type { Range } from "../components/range";
import { Alert, Section, useLoad } from "../ui";


const secs = (v: number | null | undefined) => (v == null ? "—" : v < 60 ? Math.round(v) + " s" : Math.floor(v / 60) + " min " + Math.round(v % 60) + " s");
const pct = (a: number, b: number) => (b === 0 ? "—" : Math.round((100 * a) / b) + " %");

// total sums rows as one, averages weighted by what each average counted.
function total(rows: ChatAggregate[]) {
  const sum = (f: (r: ChatAggregate) => number) => rows.reduce((s, r) => s + f(r), 0);
  const avg = (v: (r: ChatAggregate) => number | null, n: (r: ChatAggregate) => number) => {
    const count = sum((r) => (v(r) == null ? 0 : n(r)));
    return count === 0 ? null : sum((r) => (v(r) ?? 0) * (v(r) == null ? 0 : n(r))) / count;
  };
  return {
    conversations: sum((r) => r.conversations),
    answered: sum((r) => r.answered),
    unanswered: sum((r) => r.unanswered),
    wait: avg((r) => r.avg_wait, (r) => r.answered),
    first: avg((r) => r.avg_first_response, (r) => r.answered),
    handle: avg((r) => r.avg_handle, (r) => r.answered),
    csat: avg((r) => r.avg_csat, (r) => r.csat_count),
    csatCount: sum((r) => r.csat_count),
    left: sum((r) => r.left_messages),
    leftAnswered: sum((r) => r.left_answered),
  };
}

export function ChatReports({ me }: { me: Me }) {
  const [range, setRange] = useState<Range>(lastDays(30));
  const q = "from=" + range.from + "&to=" + range.to;
  const [byDay, error] = useLoad(() => api<ChatSummary>("GET", "/api/chat/reports/summary?by=day&" + q), [me.tenant_id, q]);
  const [byQueue] = useLoad(() => api<ChatSummary>("GET", "/api/chat/reports/summary?by=queue&" + q), [me.tenant_id, q]);
  const [byAgent] = useLoad(() => api<ChatSummary>("GET", "/api/chat/reports/summary?by=agent&" + q), [me.tenant_id, q]);
  const t = total(byDay?.rows ?? []);
  const dates = days(range);
  const perDay = new Map((byDay?.rows ?? []).map((r) => [r.key, r]));
  return (
    <Section title="Chat reports">
      <DateRange value={range} onChange={setRange} />
      <Alert error={error} />
      {byDay && (
        <p class="muted">
          {byDay.from} to {byDay.to}, days in {byDay.time_zone} (the team's time zone, set in Chat setup). First response and handle time count closed chats.
        </p>
      )}
      <dl class="cards" aria-label="Chat summary">
        <div>
          <dt>Conversations</dt>
          <dd>{t.conversations}</dd>
        </div>
        <div>
          <dt>Answered</dt>
          <dd>{pct(t.answered, t.conversations)}</dd>
        </div>
        <div>
          <dt>Average wait</dt>
          <dd>{secs(t.wait)}</dd>
        </div>
        <div>
          <dt>First response</dt>
          <dd>{secs(t.first)}</dd>
        </div>
        <div>
          <dt>Handle time</dt>
          <dd>{secs(t.handle)}</dd>
        </div>
        <div>
          <dt>CSAT</dt>
          <dd>{t.csat == null ? "—" : t.csat.toFixed(1) + " / 5"}</dd>
        </div>
        <div>
          <dt>Left messages</dt>
          <dd>
            {t.left} ({t.leftAnswered} answered)
          </dd>
        </div>
      </dl>
      {byDay && byDay.rows.length === 0 ? (
        <p class="empty">No conversations in these days.</p>
      ) : (
        <TimeChart
          title="Conversations per day"
          labels={dates}
          series={[
            { label: "Conversations", values: dates.map((d) => perDay.get(d)?.conversations ?? 0), color: "#2563eb" },
            { label: "Answered", values: dates.map((d) => perDay.get(d)?.answered ?? 0), color: "#16a34a" },
            { label: "Unanswered", values: dates.map((d) => perDay.get(d)?.unanswered ?? 0), color: "#dc2626", dash: true },
          ]}
        />
      )}
      <AggregateTable title="By queue" file="chats-by-queue" rows={byQueue?.rows} name={(r) => r.name || r.key || "no queue"} />
      <AggregateTable title="By agent" file="chats-by-agent" rows={byAgent?.rows} name={(r) => r.name || r.key || "nobody"} />
      <AggregateTable title="By day" file="chats-by-day" rows={byDay?.rows} name={(r) => r.key} />
    </Section>
  );
}

function AggregateTable(props: { title: string; file: string; rows?: ChatAggregate[]; name: (r: ChatAggregate) => string }) {
  const { rows } = props;
  const header = ["", "Conversations", "Answered", "Unanswered", "Avg wait (s)", "First response (s)", "Handle (s)", "Messages", "CSAT", "Left messages", "Left answered"];
  const csv = () =>
    downloadCSV(
      props.file + ".csv",
      header.map((h, i) => (i === 0 ? props.title.replace("By ", "") : h)),
      (rows ?? []).map((r) => [props.name(r), r.conversations, r.answered, r.unanswered, r.avg_wait, r.avg_first_response, r.avg_handle, r.messages, r.avg_csat, r.left_messages, r.left_answered]),
    );
  return (
    <>
      <div class="row spread">
        <h3>{props.title}</h3>
        <button type="button" class="link" onClick={csv} disabled={!rows?.length}>
          Download CSV
        </button>
      </div>
      <Table
        label={"Chats " + props.title.toLowerCase()}
        rows={rows}
        rowKey={(r) => r.key}
        empty="No conversations in these days."
        columns={[
          { title: props.title.replace("By ", ""), cell: props.name },
          { title: "Conversations", cell: (r) => r.conversations, numeric: true },
          { title: "Answered", cell: (r) => pct(r.answered, r.conversations), numeric: true },
          { title: "Unanswered", cell: (r) => r.unanswered, numeric: true },
          { title: "Avg wait (s)", cell: (r) => secs(r.avg_wait), numeric: true },
          { title: "First response (s)", cell: (r) => secs(r.avg_first_response), numeric: true },
          { title: "Handle (s)", cell: (r) => secs(r.avg_handle), numeric: true },
          { title: "Messages", cell: (r) => r.messages, numeric: true },
          { title: "CSAT", cell: (r) => (r.avg_csat == null ? "—" : r.avg_csat.toFixed(1) + " (" + r.csat_count + ")"), numeric: true },
          { title: "Left messages", cell: (r) => (r.left_messages ? r.left_answered + " of " + r.left_messages + " answered" : "—"), numeric: true },
        ]}
      />
    </>
  );
}

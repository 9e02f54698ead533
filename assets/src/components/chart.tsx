// TimeChart draws daily (or hourly) series with uPlot: small (about 50 KB),
// fast on thousands of points, and kept up to date; it renders to a canvas,
// so the figures are also given as a table for screen readers.
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface Series {
  label: string;
  values: (number | null)[];
  color: string;
  dash?: boolean;
}

export function TimeChart({ labels, series, title }: { labels: string[]; series: Series[]; title: string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el || labels.length === 0) return;
    const xs = labels.map((d) => Date.parse(d.length === 10 ? d + "T00:00:00Z" : d) / 1000);
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 220,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
        legend: { show: true },
        scales: { x: { time: true } },
        axes: [{}, { size: 50 }],
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, dash: s.dash ? [6, 4] : undefined, points: { show: labels.length < 40 } }))],
      },
      [xs, ...series.map((s) => s.values)],
      el,
    );
    const ro = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 220 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [labels.join(","), JSON.stringify(series)]);
  return (
    <figure class="chart">
      <div ref={box} role="img" aria-label={title} />
      <figcaption class="sr-only">
        <table>
          <thead>
            <tr>
              <th>Date</th>
              {series.map((s) => (
                <th>{s.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((l, i) => (
              <tr>
                <td>{l}</td>
                {series.map((s) => (
                  <td>{s.values[i] ?? ""}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </figcaption>
    </figure>
  );
}

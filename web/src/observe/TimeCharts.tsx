// The time series of a comparison as four line charts (count, failure rate, p95 latency, mean cost), one line per
// version, with a dashed vertical marker at every move of the chosen label. Loaded on demand: uPlot is only needed
// here, and the verdict above must not wait for it. Points come from the timeseries endpoint's buckets, never from
// spans. Dragging across a chart picks a time range; clicking a point lists that version's spans of that bucket.
// Every figure is also in a table under each chart, for keyboards and screen readers. Each point says how many spans
// it stands on (n, in the legend and the table), and a bucket with fewer than MIN_BUCKET_SAMPLE is drawn apart, faded:
// a 5-minute failure rate of 1 of 2 is not a 50% failure rate.
import { LEDGER_ACTION_TEXT } from "../components/ledger";
import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { Link } from "react-router";
import { cssVar, seriesClass, seriesColour } from "./colors";
import { int, ms, msTicks, pct, pctTicks, plural, usd, usdTicks } from "./format";
import { BUCKET_MS, type Bucket } from "./range";
import type { LedgerEvent, TimePoint } from "@promptreg/client/contract";

export interface TimeChartsProps {
  series: { version: string; colour: number; points: TimePoint[] }[];
  events: LedgerEvent[];
  from: Date;
  to: Date;
  bucket: Bucket;
  unit: string;
  /** The traces list of a version between two times. */
  spansHref: (version: string, from: Date, to: Date) => string;
  onSelectRange: (from: Date, to: Date) => void;
  onOpenSpans: (version: string, from: Date, to: Date) => void;
}

interface Metric {
  key: "count" | "failureRate" | "latencyP95Ms" | "costMeanUsd";
  title: string;
  format: (v: number | null) => string;
  /** Axis labels, all of one axis at once: one unit and one precision for the axis ("$0.000010", "40 µs"). */
  ticks: (values: number[]) => string[];
  /** Tick steps the axis may use (counts are whole numbers). */
  incrs?: number[];
  /** A bucket without spans of the version: 0 for a count, no value for anything else. */
  missing: number | null;
  /** The sample a point stands on: the judged units of a rate, every span of a latency or cost; none for a count. */
  sample?: (pt: TimePoint) => number;
  /** What a point's sample reads as in the legend and the table: "1 of 2" failed, "n = 55". */
  describeSample?: (pt: TimePoint) => string;
}

/**
 * Below this many spans behind a point, the point is drawn faded and off the line, and said to be too few: with 19
 * or fewer, a p95 is simply the slowest one, and a single failure moves a rate by 5 points or more.
 */
const MIN_BUCKET_SAMPLE = 20;

const WHOLE_STEPS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7,
];

const METRICS: Metric[] = [
  { key: "count", title: "Count", format: int, ticks: (v) => v.map(int), incrs: WHOLE_STEPS, missing: 0 },
  {
    key: "failureRate",
    title: "Failure rate",
    format: pct,
    ticks: pctTicks,
    missing: null,
    sample: (pt) => pt.count,
    describeSample: (pt) => `${int(pt.failures)} of ${int(pt.count)}`,
  },
  {
    key: "latencyP95Ms",
    title: "Latency p95",
    format: ms,
    ticks: msTicks,
    missing: null,
    sample: (pt) => pt.spans,
    describeSample: (pt) => `n = ${int(pt.spans)}`,
  },
  {
    key: "costMeanUsd",
    title: "Mean cost",
    format: usd,
    ticks: usdTicks,
    missing: null,
    sample: (pt) => pt.spans,
    describeSample: (pt) => `n = ${int(pt.spans)}`,
  },
];

/** A point's value with its sample, as the legend and the table print it: "100.00% (1 of 1, too few)". */
function withSample(metric: Metric, pt: TimePoint | undefined): string {
  const value = metric.format(pt ? pt[metric.key] : metric.missing);
  if (!pt || !metric.sample || !metric.describeSample || pt[metric.key] === null) return value;
  const few = metric.sample(pt) < MIN_BUCKET_SAMPLE;
  return `${value} (${metric.describeSample(pt)}${few ? ", too few" : ""})`;
}

const isFew = (metric: Metric, pt: TimePoint | undefined): boolean =>
  !!pt && !!metric.sample && pt[metric.key] !== null && metric.sample(pt) < MIN_BUCKET_SAMPLE;

/** How a point on too few spans is faded: its version's colour at this opacity. */
const FEW_ALPHA = 0.4;

/** Move markers closer than this (in CSS pixels) share one handle: their own would overlap into one glyph. */
const MARKER_GROUP_PX = 16;

const SYNC_KEY = "promptreg-timeseries";

/** Bucket starts from `from` to `to`, aligned as the server aligns them (multiples of the bucket since the epoch). */
function bucketStarts(from: Date, to: Date, bucket: Bucket): number[] {
  const step = BUCKET_MS[bucket];
  const starts: number[] = [];
  for (let t = Math.floor(from.getTime() / step) * step; t < to.getTime(); t += step) starts.push(t);
  return starts;
}

function describeEvent(e: LedgerEvent): string {
  const verb = LEDGER_ACTION_TEXT[e.action];
  // A rollout's entries other than its finish leave the label where it was: the reason says what happened.
  if (e.action.startsWith("rollout_") && e.fromVersion === e.toVersion)
    return `${e.label} ${verb} by ${e.actor}${e.reason ? `: ${e.reason}` : ""}`;
  return `${e.label} ${verb} ${e.fromVersion ?? "—"} → ${e.toVersion ?? "—"} by ${e.actor}`;
}

/** One handle's name: the move, or for moves too close to draw apart how many and each of them, in order. */
function describeGroup(events: LedgerEvent[]): string {
  if (events.length === 1) return describeEvent(events[0]!);
  const labels = [...new Set(events.map((e) => e.label))];
  return `${events.length} moves of ${labels.join(" and ")}: ${events.map(describeEvent).join("; ")}`;
}

interface MarkerGroup {
  left: number;
  top: number;
  height: number;
  flip: boolean;
  events: LedgerEvent[];
}

/**
 * Markers by their place on the chart: those within MARKER_GROUP_PX of a group's first one join it, in time order,
 * and the group's handle sits between its first and last.
 */
function groupMarkers(placed: { x: number; event: LedgerEvent }[]): { x: number; events: LedgerEvent[] }[] {
  const groups: { first: number; last: number; events: LedgerEvent[] }[] = [];
  const inOrder = [...placed].sort((a, b) => a.x - b.x || Date.parse(a.event.at) - Date.parse(b.event.at));
  for (const { x, event } of inOrder) {
    const group = groups[groups.length - 1];
    if (group && x - group.first < MARKER_GROUP_PX) {
      group.events.push(event);
      group.last = x;
    } else groups.push({ first: x, last: x, events: [event] });
  }
  return groups.map((g) => ({ x: (g.first + g.last) / 2, events: g.events }));
}

export default function TimeCharts(props: TimeChartsProps) {
  const starts = useMemo(() => bucketStarts(props.from, props.to, props.bucket), [props.from, props.to, props.bucket]);
  const [scheme, setScheme] = useState(0);
  useEffect(() => {
    // Canvas colours are read from the style sheet when a chart is drawn: redraw when light/dark flips.
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const flip = () => setScheme((n) => n + 1);
    media.addEventListener("change", flip);
    return () => media.removeEventListener("change", flip);
  }, []);
  return (
    <>
      <p className="muted small sample-note">
        Each point stands on the spans of its bucket: its n is in the legend as you hover a chart, and in the numbers
        under it. A point on fewer than {MIN_BUCKET_SAMPLE} spans (for a failure rate, {MIN_BUCKET_SAMPLE} judged{" "}
        {props.unit}s) is drawn as a faded ring <span className="few-swatch" aria-hidden="true" />, apart from its line:
        too few to read a rate, a p95 or a mean from.
      </p>
      <div className="time-charts">
        {METRICS.map((m) => (
          <MetricChart key={m.key} metric={m} starts={starts} scheme={scheme} {...props} />
        ))}
      </div>
    </>
  );
}

function MetricChart({
  metric,
  starts,
  scheme,
  ...p
}: TimeChartsProps & { metric: Metric; starts: number[]; scheme: number }) {
  const box = useRef<HTMLDivElement>(null);
  const [markers, setMarkers] = useState<MarkerGroup[]>([]);
  const callbacks = useRef(p);
  callbacks.current = p;

  // Per series, the bucket's point (or none) at each start; the chart's own columns leave out the points on too few
  // spans, which the draw hook puts back, faded, off the line.
  const points = useMemo(
    () =>
      p.series.map((s) => {
        const byStart = new Map(s.points.map((pt) => [Date.parse(pt.start), pt]));
        return starts.map((t) => byStart.get(t));
      }),
    [p.series, starts],
  );
  const data = useMemo(() => {
    const columns: (number | null)[][] = points.map((column) =>
      column.map((pt) => (!pt ? metric.missing : isFew(metric, pt) ? null : pt[metric.key])),
    );
    return [starts.map((t) => t / 1000), ...columns] as uPlot.AlignedData;
  }, [points, starts, metric]);
  const fewCount = points.reduce((n, column) => n + column.filter((pt) => isFew(metric, pt)).length, 0);

  // biome-ignore lint/correctness/useExhaustiveDependencies: `data` already follows the series and the metric; `scheme` re-reads the CSS colours.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fg = cssVar("--fg-muted", "#666");
    const grid = cssVar("--border", "#ddd");
    const bg = cssVar("--bg", "#fff");
    const markerColour = cssVar("--marker", "#8a5a00");
    const fromS = p.from.getTime() / 1000;
    const toS = p.to.getTime() / 1000;
    const eventTimes = p.events.map((e) => Date.parse(e.at) / 1000);
    const bucketS = BUCKET_MS[p.bucket] / 1000;

    const placeMarkers = (u: uPlot) => {
      const over = u.over.getBoundingClientRect();
      const outer = el.getBoundingClientRect();
      const placed = p.events
        .map((event, i) => ({ event, x: u.valToPos(eventTimes[i]!, "x") }))
        .filter(({ x }) => x >= 0 && x <= over.width);
      setMarkers(
        groupMarkers(placed).map(({ x, events }) => ({
          events,
          left: over.left - outer.left + x,
          top: over.top - outer.top,
          height: over.height,
          // A marker in the right half opens its tooltip to the left, so that it stays on the page.
          flip: x > over.width / 2,
        })),
      );
    };

    // An isolated point (no neighbour to draw a line to) is drawn as a dot, or it would not show at all.
    const isolated = (u: uPlot, seriesIdx: number, show: boolean): number[] | null => {
      if (show) return null;
      const column = u.data[seriesIdx]!;
      const idxs: number[] = [];
      for (let i = 0; i < column.length; i++)
        if (column[i] != null && column[i - 1] == null && column[i + 1] == null) idxs.push(i);
      return idxs.length ? idxs : null;
    };

    // uPlot sizes a y axis once: measure its widest label, so that "$0.000015" is never cut to ".000015".
    const axisSize = (u: uPlot, values: string[] | null, axisIdx: number, cycleNum: number): number => {
      const axis = u.axes[axisIdx] as uPlot.Axis & { _size?: number; font: [string, number] | string };
      if (cycleNum > 1 && axis._size) return axis._size;
      const widest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
      u.ctx.font = Array.isArray(axis.font) ? axis.font[0] : axis.font;
      const ticks = (axis.ticks as { size?: number } | undefined)?.size ?? 10;
      return Math.ceil(ticks + (axis.gap ?? 5) + u.ctx.measureText(widest).width / devicePixelRatio + 4);
    };

    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth),
      height: 150,
      series: [
        { value: (_u, v) => (v == null ? "—" : new Date(v * 1000).toLocaleString()) },
        ...p.series.map((s, si) => ({
          label: s.version,
          stroke: seriesColour(s.colour),
          width: 2,
          spanGaps: false,
          points: { size: 5, filter: isolated },
          // The legend reads the bucket's own point, with its sample, even where the line leaves it out.
          value: (_u: uPlot, v: number | null, _seriesIdx: number, idx: number | null) =>
            idx == null ? metric.format(v) : withSample(metric, points[si]![idx]),
        })),
      ],
      scales: {
        x: { time: true, range: () => [fromS, toS] },
        y: {
          range: (_u, _min, max) => {
            // The faded points count too: the axis must reach them.
            let top = max;
            for (const column of points)
              for (const pt of column) if (isFew(metric, pt)) top = Math.max(top, pt![metric.key] ?? 0);
            return [0, top > 0 ? top * 1.15 : 1];
          },
        },
      },
      axes: [
        { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid },
          size: axisSize,
          values: (_u, splits) => metric.ticks(splits),
          ...(metric.incrs ? { incrs: metric.incrs } : {}),
        },
      ],
      cursor: {
        sync: { key: SYNC_KEY },
        drag: { x: true, y: false, setScale: false },
        points: { size: 7 },
      },
      legend: { live: true },
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { top, height } = u.bbox;
            ctx.save();
            // Points on too few spans: a faded ring of the version's colour, apart from its line.
            ctx.fillStyle = bg;
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash([]);
            points.forEach((column, si) => {
              ctx.strokeStyle = seriesColour(p.series[si]!.colour);
              column.forEach((pt, i) => {
                if (!isFew(metric, pt)) return;
                const x = u.valToPos(u.data[0][i]!, "x", true);
                const y = u.valToPos(pt![metric.key]!, "y", true);
                ctx.beginPath();
                ctx.arc(x, y, 3.5 * devicePixelRatio, 0, 2 * Math.PI);
                ctx.globalAlpha = 1;
                ctx.fill();
                ctx.globalAlpha = FEW_ALPHA;
                ctx.stroke();
              });
            });
            ctx.globalAlpha = 1;
            ctx.strokeStyle = markerColour;
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.setLineDash([5 * devicePixelRatio, 4 * devicePixelRatio]);
            for (const t of eventTimes) {
              if (t < fromS || t > toS) continue;
              const x = Math.round(u.valToPos(t, "x", true));
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
            }
            ctx.restore();
            placeMarkers(u);
          },
        ],
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const lo = u.posToVal(u.select.left, "x");
            const hi = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            callbacks.current.onSelectRange(new Date(lo * 1000), new Date(hi * 1000));
          },
        ],
      },
    };
    const chart = new uPlot(opts, data, el.querySelector<HTMLElement>(".chart-canvas")!);

    // A click on the plot opens the spans of the line (or faded point) nearest to the pointer, in that bucket.
    const onClick = () => {
      const idx = chart.cursor.idx;
      const top = chart.cursor.top;
      if (idx == null || top == null || top < 0) return;
      let best: { version: string; distance: number } | null = null;
      p.series.forEach((s, i) => {
        const pt = points[i]![idx];
        const v = chart.data[i + 1]![idx] ?? (isFew(metric, pt) ? pt![metric.key] : null);
        if (v == null) return;
        const distance = Math.abs(chart.valToPos(v, "y") - top);
        if (!best || distance < best.distance) best = { version: s.version, distance };
      });
      const chosen = best as { version: string; distance: number } | null;
      if (!chosen) return;
      const start = chart.data[0][idx]!;
      callbacks.current.onOpenSpans(chosen.version, new Date(start * 1000), new Date((start + bucketS) * 1000));
    };
    chart.over.addEventListener("click", onClick);
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(320, el.clientWidth), height: 150 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.over.removeEventListener("click", onClick);
      chart.destroy();
    };
    // `p` changes identity every render; the chart depends only on what is listed.
  }, [data, p.events, p.from, p.to, p.bucket, scheme]);

  const titleId = `chart-${metric.key}`;
  const rows = starts
    .map((t, i) => ({ t, points: points.map((column) => column[i]) }))
    .filter((r) => r.points.some((pt) => pt !== undefined));
  return (
    <figure className="time-chart" aria-labelledby={titleId}>
      <figcaption id={titleId}>
        {metric.title}
        {metric.key === "count" && <span className="muted"> ({p.unit}s judged)</span>}
        <span className="muted"> per {p.bucket}</span>
        {fewCount > 0 && (
          <span className="muted small">
            {" "}
            · <span className="few-swatch" aria-hidden="true" /> {plural(fewCount, "point")} on too few spans
          </span>
        )}
      </figcaption>
      <div className="chart-box" ref={box}>
        <div
          className="chart-canvas"
          role="img"
          aria-label={`${metric.title} per ${p.bucket} bucket, for ${p.series.map((s) => s.version).join(" and ")}; the numbers are in the table below`}
        />
        {markers.map((m, i) => (
          <span
            key={i}
            className={m.flip ? "marker flip" : "marker"}
            style={{ left: m.left, top: m.top, height: m.height }}
          >
            <button
              type="button"
              className={m.events.length > 1 ? "marker-handle marker-group" : "marker-handle"}
              aria-describedby={`${titleId}-marker-${i}`}
              aria-label={describeGroup(m.events)}
            >
              {m.events.length > 1 && <span aria-hidden="true">{m.events.length}</span>}
            </button>
            <span role="tooltip" id={`${titleId}-marker-${i}`} className="marker-tip">
              {m.events.length > 1 && (
                <span className="muted small">{m.events.length} moves, too close to draw apart:</span>
              )}
              {m.events.map((e, j) => (
                <span className="marker-event" key={j}>
                  <strong>{describeEvent(e)}</strong>
                  <span className="muted small">{new Date(e.at).toLocaleString()}</span>
                  {e.reason && <span className="marker-reason">“{e.reason}”</span>}
                </span>
              ))}
            </span>
          </span>
        ))}
      </div>
      <details className="chart-table">
        <summary>Numbers</summary>
        <table className="compact">
          <thead>
            <tr>
              <th scope="col">Bucket start</th>
              {p.series.map((s) => (
                <th scope="col" key={s.version} className={seriesClass(s.colour)}>
                  {s.version}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.t}>
                <td>{new Date(r.t).toLocaleString()}</td>
                {r.points.map((pt, s) => (
                  <td key={s} className={isFew(metric, pt) ? "num low-sample" : "num"}>
                    <Link to={p.spansHref(p.series[s]!.version, new Date(r.t), new Date(r.t + BUCKET_MS[p.bucket]))}>
                      {withSample(metric, pt)}
                    </Link>
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

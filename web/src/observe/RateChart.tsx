// Failure rate per version as a dot with its 95% Wilson interval as whiskers, and under it the difference against the
// baseline with its 95% Newcombe interval around a zero line. Drawn as SVG rows in a grid, with the numbers as text
// beside each row: nothing here is only in pixels, so screen readers and tests read what the eye reads.
import type { CompareAnswer, Comparison } from "@promptreg/client/contract";
import { interval, pct, pctTicks, pts } from "./format";
import { seriesClass } from "./colors";

const W = 400;
const H = 28;

/** Ticks at round values covering [0, max]. */
function ticks(max: number, count = 5): number[] {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  return Array.from({ length: Math.floor(max / step + 1e-9) + 1 }, (_, i) => i * step);
}

function Whisker({ x, low, high, className }: { x: number; low: number; high: number; className: string }) {
  return (
    <svg
      viewBox={`0 0 ${W} ${H}`}
      preserveAspectRatio="none"
      className={`whisker ${className}`}
      aria-hidden="true"
      focusable="false"
    >
      <line x1={low} x2={high} y1={H / 2} y2={H / 2} className="whisker-line" vectorEffect="non-scaling-stroke" />
      <line
        x1={low}
        x2={low}
        y1={H / 2 - 7}
        y2={H / 2 + 7}
        className="whisker-line"
        vectorEffect="non-scaling-stroke"
      />
      <line
        x1={high}
        x2={high}
        y1={H / 2 - 7}
        y2={H / 2 + 7}
        className="whisker-line"
        vectorEffect="non-scaling-stroke"
      />
      <rect x={x - 2.5} y={H / 2 - 6} width={5} height={12} className="whisker-dot" />
    </svg>
  );
}

export function RateChart({ answer, unit }: { answer: CompareAnswer; unit: string }) {
  const highs = answer.versions.map((v) => v.failureRateCI?.high ?? 0);
  const max = Math.max(0.01, ...highs) * 1.1;
  const scale = (r: number) => (r / max) * W;
  const axis = ticks(max);
  return (
    <figure className="rate-chart" aria-labelledby="rate-chart-title">
      <figcaption id="rate-chart-title">
        Failure rate per version, with its 95% Wilson interval{" "}
        <span className="muted">
          (failed {unit}s / judged {unit}s)
        </span>
      </figcaption>
      <div className="forest" role="list">
        {answer.versions.map((v, i) => (
          <div className="forest-row" role="listitem" key={v.version} data-testid={`rate-${v.version}`}>
            <span className={`forest-label ${seriesClass(i)}`}>
              <span className="swatch" aria-hidden="true" />
              <span className="semver">{v.version}</span>
              {i === 0 && <span className="muted small"> baseline</span>}
            </span>
            {v.failureRate !== null && v.failureRateCI ? (
              <Whisker
                x={scale(v.failureRate)}
                low={scale(v.failureRateCI.low)}
                high={scale(v.failureRateCI.high)}
                className={seriesClass(i)}
              />
            ) : (
              <span className="muted small">no {unit}s</span>
            )}
            <span className="forest-value">
              <strong className="rate">{pct(v.failureRate)}</strong>{" "}
              {v.failureRateCI && v.failureRate !== null && (
                <span className="ci muted">
                  (95% CI <span className="ci-range">{interval(v.failureRateCI.low, v.failureRateCI.high)}</span>)
                </span>
              )}
              <span className="muted small">
                {" "}
                · {v.failures.toLocaleString("en-US")} of {v.units.toLocaleString("en-US")}
              </span>
            </span>
          </div>
        ))}
        <div className="forest-row forest-axis" aria-hidden="true">
          <span />
          <span className="axis">
            {pctTicks(axis).map((label, i) => (
              <span key={label} className="tick" style={{ left: `${(scale(axis[i]!) / W) * 100}%` }}>
                {label}
              </span>
            ))}
          </span>
          <span />
        </div>
      </div>
      {answer.comparisons.map((c) => (
        <Difference key={c.version} comparison={c} />
      ))}
    </figure>
  );
}

function Difference({ comparison: c }: { comparison: Comparison }) {
  const d = c.failureRateDiff;
  if (!d || Number.isNaN(d.diff)) return null;
  const extent = Math.max(0.005, Math.abs(d.low), Math.abs(d.high)) * 1.15;
  const scale = (x: number) => ((x + extent) / (2 * extent)) * W;
  return (
    <div className={`forest difference verdict-${c.verdict}`} data-testid={`diff-${c.version}`}>
      <div className="forest-row">
        <span className="forest-label">
          <span className="semver">{c.version}</span> − <span className="semver">{c.baseline}</span>
        </span>
        <svg
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          className="whisker diff-whisker"
          aria-hidden="true"
          focusable="false"
        >
          <line x1={scale(0)} x2={scale(0)} y1={0} y2={H} className="zero-line" vectorEffect="non-scaling-stroke" />
          <line
            x1={scale(d.low)}
            x2={scale(d.high)}
            y1={H / 2}
            y2={H / 2}
            className="whisker-line"
            vectorEffect="non-scaling-stroke"
          />
          <line
            x1={scale(d.low)}
            x2={scale(d.low)}
            y1={H / 2 - 7}
            y2={H / 2 + 7}
            className="whisker-line"
            vectorEffect="non-scaling-stroke"
          />
          <line
            x1={scale(d.high)}
            x2={scale(d.high)}
            y1={H / 2 - 7}
            y2={H / 2 + 7}
            className="whisker-line"
            vectorEffect="non-scaling-stroke"
          />
          <rect x={scale(d.diff) - 2.5} y={H / 2 - 6} width={5} height={12} className="whisker-dot" />
        </svg>
        <span className="forest-value">
          <strong className="diff">{pts(d.diff)}</strong>{" "}
          <span className="ci muted">
            (95% Newcombe CI <span className="ci-range">{interval(d.low, d.high, pts)}</span>)
          </span>
        </span>
      </div>
      <p className="muted small forest-note">
        Difference in failure rate, {c.version} minus {c.baseline}; the interval{" "}
        {d.low > 0 ? "lies above" : d.high < 0 ? "lies below" : "includes"} zero.
      </p>
    </div>
  );
}

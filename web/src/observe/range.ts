// The time range of the observability pages, kept in the address: a preset relative to now (`range=24h`), or an
// absolute window (`from=…&to=…`, what dragging across a chart gives) that pastes into an incident channel as is.
export const PRESETS = { "24h": 86_400_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000 } as const;
export type Preset = keyof typeof PRESETS;
export const DEFAULT_PRESET: Preset = "7d";

export const BUCKET_MS = { "5m": 300_000, "1h": 3_600_000, "1d": 86_400_000 } as const;
export type Bucket = keyof typeof BUCKET_MS;

export interface TimeRange {
  from: Date;
  to: Date;
  preset: Preset | null;
}

const MINUTE = 60_000;

/**
 * The range the address asks for. A preset ends at the next whole minute, so that the queries made while a person
 * looks at the page share one key (and one cache entry) instead of a new one every render.
 */
export function readRange(params: URLSearchParams, now: number): TimeRange {
  const from = params.get("from");
  const to = params.get("to");
  if (
    from &&
    to &&
    !Number.isNaN(Date.parse(from)) &&
    !Number.isNaN(Date.parse(to)) &&
    Date.parse(from) < Date.parse(to)
  )
    return { from: new Date(from), to: new Date(to), preset: null };
  const asked = params.get("range");
  const preset: Preset = asked && asked in PRESETS ? (asked as Preset) : DEFAULT_PRESET;
  const end = Math.ceil(now / MINUTE) * MINUTE;
  return { from: new Date(end - PRESETS[preset]), to: new Date(end), preset };
}

/** A bucket that gives a readable number of points (at most a few hundred) for the range. */
export function autoBucket(range: TimeRange): Bucket {
  const length = range.to.getTime() - range.from.getTime();
  if (length <= 36 * 3_600_000) return "5m";
  if (length <= 45 * 86_400_000) return "1h";
  return "1d";
}

export function readBucket(params: URLSearchParams, range: TimeRange): Bucket {
  const asked = params.get("bucket");
  return asked && asked in BUCKET_MS ? (asked as Bucket) : autoBucket(range);
}

/** A short label such as "Nov 25, 14:05 – Nov 26, 09:30" for an absolute range. */
export function rangeLabel(range: TimeRange): string {
  const f = new Intl.DateTimeFormat("en-US", {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
  return `${f.format(range.from)} – ${f.format(range.to)}`;
}

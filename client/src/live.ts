// Live updates: one stream of the project's changes (`GET /api/v1/events`, server-sent events read through fetch, so
// that the bearer header is sent), telling the client which of the references it holds to refresh now rather than
// when their TTL runs out. Nothing waits on it: a `get` is served exactly as without it, and while the stream is down
// the TTL is all there is, as before. It reconnects with backoff and jitter and resumes from the last event's id; when
// the server cannot resume exactly it says `reset`, and everything held is refreshed.
import { RegistryError } from "./errors.js";
import { errorFromBody, parseRetryAfter, type HttpSettings } from "./http.js";

/** An event as the client reads it: what it names, whatever its type (later servers add types). */
export interface LiveNotice {
  type: string;
  prompt?: string;
  label?: string;
}

export interface LiveOptions {
  http: Pick<HttpSettings, "baseUrl" | "apiKey" | "fetch" | "now">;
  /** A change of `prompt` (of `label` alone when it names one). */
  onChange(prompt: string, label: string | undefined): void;
  /** Anything may have changed: refresh everything held. */
  onGap(): void;
  /** A refusal worth knowing (the key, or a server without the stream); network failures are not reported. */
  report(error: RegistryError): void;
  /** First reconnection delay; doubled after each failure up to `maxDelayMs`, each drawn between half and all. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A stream silent for this long is taken for dead (the server sends a heartbeat every 15 s by default). */
  idleMs?: number;
  random?: () => number;
}

export interface Live {
  /** Connects unless it runs already; called when the first reference is held. */
  start(): void;
  /** Disconnects for good. */
  close(): void;
}

export const LIVE_DEFAULTS = { baseDelayMs: 500, maxDelayMs: 30_000, idleMs: 60_000 } as const;
/** The longest Retry-After honoured. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export function createLive(options: LiveOptions): Live {
  const { baseDelayMs, maxDelayMs, idleMs } = { ...LIVE_DEFAULTS, ...options };
  const random = options.random ?? Math.random;
  const url = `${options.http.baseUrl}/api/v1/events`;
  let running = false;
  let closed = false;
  let lastEventId: string | undefined;
  let abort: AbortController | undefined;
  let sleeping: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((wake) => {
      const timer = setTimeout(wake, ms);
      unrefTimer(timer);
      sleeping = { timer, wake };
    });

  /**
   * One connection, until it ends: whether it was answered with a stream, and the server's Retry-After when it was
   * refused; undefined when it was refused for good.
   */
  async function connect(failures: number): Promise<{ opened: boolean; retryAfterMs?: number } | undefined> {
    abort = new AbortController();
    const headers: Record<string, string> = {
      Authorization: `Bearer ${options.http.apiKey}`,
      Accept: "text/event-stream",
    };
    if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
    const hold = holdLoosely(url);
    let response: Response;
    try {
      const fetch = options.http.fetch;
      response = await fetch(url, { headers, signal: abort.signal });
    } catch {
      hold.release();
      return { opened: false };
    } finally {
      hold.stopWatching();
    }
    try {
      const type = response.headers.get("content-type") ?? "";
      if (response.status !== 200 || !type.startsWith("text/event-stream") || !response.body) {
        const text = await response.text().catch(() => "");
        const error =
          response.status === 200
            ? new RegistryError({ status: 200, code: "invalid_response", message: `GET ${url}: not an event stream` })
            : errorFromBody(response.status, text, `GET ${url}`, response.headers.get("x-request-id") ?? undefined);
        // No such route (an older server) or not a stream: asking again would not change the answer.
        if (response.status === 404 || response.status === 200) {
          options.report(error);
          return undefined;
        }
        if (response.status === 401 || response.status === 403) {
          if (failures === 0) options.report(error);
          return { opened: false, retryAfterMs: maxDelayMs };
        }
        const retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), options.http.now);
        return { opened: false, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
      }
      // Without an id to resume from, changes made since the held references were fetched cannot be told apart.
      if (lastEventId === undefined) options.onGap();
      await read(response.body, abort);
      return { opened: true };
    } catch {
      return { opened: true };
    } finally {
      abort.abort();
      hold.release();
    }
  }

  async function read(body: ReadableStream<Uint8Array>, controller: AbortController): Promise<void> {
    let idle: ReturnType<typeof setTimeout> | undefined;
    // Set again at every chunk (a heartbeat at least): a timer's `refresh` is Node's, not a browser's.
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), idleMs);
      unrefTimer(idle);
    };
    arm();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || closed) return;
        arm();
        for (const frame of parser.push(decoder.decode(value, { stream: true }))) dispatch(frame);
        // The server also sends ids without an event (at subscription, with heartbeats): resume from the latest.
        lastEventId = parser.lastEventId ?? lastEventId;
      }
    } finally {
      clearTimeout(idle);
      reader.cancel().catch(() => {});
    }
  }

  function dispatch(frame: SseFrame): void {
    if (frame.id !== undefined) lastEventId = frame.id;
    let notice: LiveNotice;
    try {
      notice = JSON.parse(frame.data) as LiveNotice;
    } catch {
      return;
    }
    if (frame.event === "reset") options.onGap();
    else if (typeof notice?.prompt === "string")
      options.onChange(notice.prompt, typeof notice.label === "string" ? notice.label : undefined);
  }

  async function run(): Promise<void> {
    let failures = 0;
    while (!closed) {
      const outcome = await connect(failures);
      if (outcome === undefined) {
        // Refused for good: not asked again, whatever is held later.
        closed = true;
        break;
      }
      if (closed) break;
      failures = outcome.opened ? 0 : failures + 1;
      const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, failures - 1));
      // Half fixed, half random: clients dropped together (a restart) do not come back together.
      const delay = backoff / 2 + random() * (backoff / 2);
      await sleep(Math.max(delay, Math.min(outcome.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS)));
    }
    running = false;
  }

  return {
    start() {
      if (running || closed) return;
      running = true;
      void run();
    },
    close() {
      closed = true;
      abort?.abort();
      if (sleeping) {
        clearTimeout(sleeping.timer);
        sleeping.wake();
      }
    },
  };
}

function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
}

interface Socketish {
  ref(): void;
  unref(): void;
}
type Channels = {
  subscribe(name: string, fn: (message: unknown) => void): void;
  unsubscribe(name: string, fn: (message: unknown) => void): void;
};
const SEND_HEADERS = "undici:client:sendHeaders";

/**
 * On Node, lets the process exit while the stream is all it has left, as an unref'd timer would: a script that
 * gets a prompt and ends must not be kept alive by a stream it never asked for. Node's fetch announces the socket of
 * each request on a diagnostics channel; the stream's own is unref'd while the stream lasts (the server closes the
 * connection after a stream, so the socket is never reused unref'd). Elsewhere (browsers, another fetch) it does
 * nothing, and `close()` ends the stream.
 */
function holdLoosely(url: string): { stopWatching(): void; release(): void } {
  const getBuiltin = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process
    ?.getBuiltinModule;
  const channels = getBuiltin?.("node:diagnostics_channel") as Channels | undefined;
  if (!channels) return { stopWatching() {}, release() {} };
  const target = new URL(url);
  let socket: Socketish | undefined;
  const watch = (message: unknown) => {
    const m = message as { request?: { origin?: unknown; path?: unknown }; socket?: Socketish };
    if (m.request?.origin !== target.origin || m.request.path !== target.pathname || !m.socket) return;
    socket = m.socket;
    socket.unref();
  };
  channels.subscribe(SEND_HEADERS, watch);
  let watching = true;
  return {
    stopWatching() {
      if (watching) channels.unsubscribe(SEND_HEADERS, watch);
      watching = false;
    },
    release() {
      socket?.ref();
      socket = undefined;
    },
  };
}

export interface SseFrame {
  id: string | undefined;
  event: string;
  data: string;
}

/** The longest line read: a server sending more without a line break is not sending events. */
const MAX_LINE = 1024 * 1024;

/** Server-sent events as the HTML standard parses them, fed text as it arrives. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private id: string | undefined;
  private afterCR = false;

  /** The id of the last complete frame read, whether or not it was an event (the standard's last event ID). */
  lastEventId: string | undefined;

  push(text: string): SseFrame[] {
    // A line that ended with CR was handled at once: a LF that follows it belongs to it.
    this.buffer += this.afterCR && text.startsWith("\n") ? text.slice(1) : text;
    this.afterCR = false;
    const frames: SseFrame[] = [];
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end < 0) {
        if (this.buffer.length > MAX_LINE)
          throw new RangeError(`an event stream line longer than ${MAX_LINE} characters`);
        break;
      }
      const line = this.buffer.slice(0, end);
      const crlf = this.buffer.startsWith("\r\n", end);
      this.buffer = this.buffer.slice(end + (crlf ? 2 : 1));
      if (!crlf && this.buffer === "" && text.endsWith("\r")) this.afterCR = true;
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    return frames;
  }

  private line(line: string): SseFrame | undefined {
    if (line === "") {
      this.lastEventId = this.id;
      const frame =
        this.data.length > 0 ? { id: this.id, event: this.event || "message", data: this.data.join("\n") } : undefined;
      this.data = [];
      this.event = "";
      return frame;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id" && !value.includes("\u0000")) this.id = value;
    return undefined;
  }
}

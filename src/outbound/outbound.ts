// The one way the service calls a user's server (a model endpoint for an LLM judge, a webhook receiver): every such
// request goes through `createOutbound()`, which refuses private targets unless configured, never follows a redirect,
// bounds the time and the answer's size, and says whether a failure is worth retrying and when.
//
// Written on node:http(s) rather than fetch: the SSRF guard must check the address the socket actually connects to
// (a name that resolves to a public address when checked and to 127.0.0.1 when used is the classic bypass), and only
// a `lookup` hook on the connection sees that. Node's fetch takes one only through undici's own Agent, a second HTTP
// stack to pin beside Node's.
import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

export interface OutboundOptions {
  /** Allow loopback, private, link-local and other non-public addresses (PROMPTREG_ALLOW_PRIVATE_CONNECTIONS). */
  allowPrivate: boolean;
  /** Sent as User-Agent on every request. */
  userAgent: string;
}

export interface OutboundRequest {
  method?: "GET" | "POST" | "PUT";
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The whole exchange, connect to last byte. */
  timeoutMs: number;
  /** The answer's body is read up to this many bytes; more is a failure. */
  maxResponseBytes: number;
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** Milliseconds from sending to the last byte. */
  latencyMs: number;
}

/**
 * Why an outbound call failed, in words fit for an operator, and whether trying again later may succeed: connection
 * failures, timeouts, 408, 425, 429 and 5xx may; a refused target, a redirect or another 4xx will not.
 */
export class OutboundError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** From the answer's Retry-After, when it had one. */
    readonly retryAfterMs?: number,
    /** The HTTP status, when the server answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "OutboundError";
  }
}

/**
 * A call that was not made, because a limit of this side (a connection's concurrency or requests per minute) says not
 * yet: try again after `retryAfterMs`. Not a failed attempt: nothing was sent.
 */
export class NotSentError extends OutboundError {
  constructor(message: string, retryAfterMs: number) {
    super(message, true, retryAfterMs);
    this.name = "NotSentError";
  }
}

/** A 2xx answer whose body is read as it arrives (a model's streamed answer). */
export interface OutboundStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Iterating rejects with an OutboundError when the exchange fails midway (timeout, cut, cancelled). */
  body: AsyncIterable<Buffer>;
  /** performance.now() when the request was sent. */
  started: number;
}

export interface Outbound {
  /** Answers with any 2xx; every other outcome rejects with an OutboundError. */
  request(url: string, init: OutboundRequest): Promise<OutboundResponse>;
  /**
   * As `request`, but resolves at a 2xx answer's headers, its body still to read (`maxResponseBytes` bounds only an
   * error's body here: the reader bounds what it keeps). The timeout still covers the whole exchange.
   */
  stream(url: string, init: OutboundRequest): Promise<OutboundStream>;
  /** Why this URL may not be called, or undefined when it may (scheme and literal address; names are checked again at connect). */
  refusal(url: string): string | undefined;
  /**
   * As `refusal`, and a name is resolved and each of its addresses checked, to refuse a target when it is
   * configured rather than at its first use. The check at connect still decides: DNS may answer differently then.
   */
  checkTarget(url: string): Promise<string | undefined>;
}

const RETRYABLE_STATUS = new Set([408, 425, 429]);
/** What of an error's body is read: enough to quote it. */
const ERROR_BODY_BYTES = 64 * 1024;
/** The longest Retry-After honoured: a server asking for more is retried after this. */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** How long a kept connection may stay idle. */
const IDLE_SOCKET_MS = 4_000;

export function createOutbound(options: OutboundOptions): Outbound {
  const addressRefusal = (address: string): string | undefined => {
    if (options.allowPrivate) return undefined;
    // process() reads ::ffff:127.0.0.1 as the IPv4 address it is. Only plain unicast passes: the translation and
    // tunnel ranges (NAT64, 6to4, Teredo) can carry a private IPv4 address inside.
    const parsed = ipaddr.process(address);
    // The deprecated IPv4-compatible form (::a.b.c.d, ::/96) reads as unicast to ipaddr.js but carries an IPv4
    // address where a host tunnels it.
    const compatible = parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0);
    const range = compatible && parsed.range() === "unicast" ? "ipv4Compatible" : parsed.range();
    return range === "unicast"
      ? undefined
      : `${address} is a ${range} address; set PROMPTREG_ALLOW_PRIVATE_CONNECTIONS=true to allow private targets`;
  };

  // Every address a name resolves to must be public: connecting to the first while another is private would leave
  // the choice to the resolver's order.
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 0);
      const list = addresses as dns.LookupAddress[];
      const refused = list.map((a) => addressRefusal(a.address)).find(Boolean);
      if (refused)
        return callback(Object.assign(new Error(`${hostname} resolves to ${refused}`), { refused: true }), "", 0);
      if (lookupOptions.all) return callback(null, list as never);
      const first = list[0];
      if (!first) return callback(new Error(`${hostname} has no address`), "", 0);
      callback(null, first.address, first.family);
    });
  };

  // Connections are kept open between calls (a run of an experiment makes thousands to one server). A kept socket
  // goes to the address `lookup` checked when it connected, so reuse reaches nothing a new connection could not.
  // Idle sockets close before a server's usual keep-alive timeout (Node's is 5 s), which a server may shorten by
  // saying so (`Keep-Alive: timeout=`), and never hold the process open.
  const agents = {
    http: new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    https: new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  };

  const refusal = (url: string): string | undefined => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "not a URL";
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `${parsed.protocol} is not http(s)`;
    if (parsed.username || parsed.password) return "credentials in the URL are not allowed; use a header";
    const host = parsed.hostname.replace(/^\[|\]$/g, "");
    return ipaddr.isValid(host) ? addressRefusal(host) : undefined;
  };

  return {
    refusal,
    async checkTarget(url) {
      const refused = refusal(url);
      if (refused) return refused;
      const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
      if (ipaddr.isValid(host)) return undefined;
      let addresses: dns.LookupAddress[];
      try {
        addresses = await dns.promises.lookup(host, { all: true });
      } catch (err) {
        return `${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
      }
      const bad = addresses.map((a) => addressRefusal(a.address)).find(Boolean);
      return bad && `${host} resolves to ${bad}`;
    },
    async request(url, init) {
      const sent = exchange(url, init);
      const res = await sent.response;
      const body = await readAll(res.body, init.maxResponseBytes, res.status);
      const answer = { status: res.status, headers: res.headers, body, latencyMs: performance.now() - sent.started };
      if (res.status >= 200 && res.status < 300) return answer;
      throw statusError(answer);
    },
    async stream(url, init) {
      const sent = exchange(url, init);
      const res = await sent.response;
      if (res.status >= 200 && res.status < 300) return res;
      // An error's body is an explanation, read whole (bounded) so the error can quote it.
      const body = await readAll(res.body, Math.min(init.maxResponseBytes, ERROR_BODY_BYTES), res.status);
      throw statusError({
        status: res.status,
        headers: res.headers,
        body,
        latencyMs: performance.now() - sent.started,
      });
    },
  };

  /**
   * Sends the request; `response` resolves at the answer's headers, with its body as it arrives. Every failure, before
   * the headers or while the body is read, is an OutboundError saying why in an operator's words.
   */
  function exchange(url: string, init: OutboundRequest) {
    const refused = refusal(url);
    if (refused) throw new OutboundError(`refused: ${refused}`, false);
    const target = new URL(url);
    const transport = target.protocol === "https:" ? https : http;
    const signal = AbortSignal.any([AbortSignal.timeout(init.timeoutMs), ...(init.signal ? [init.signal] : [])]);
    const started = performance.now();
    const describe = (err: Error & { code?: string; refused?: boolean }): OutboundError => {
      if (signal.aborted && !init.signal?.aborted)
        return new OutboundError(`no answer within ${init.timeoutMs} ms`, true);
      if (init.signal?.aborted) return new OutboundError("cancelled", false);
      if (err instanceof OutboundError) return err;
      if (err.refused) return new OutboundError(`refused: ${err.message}`, false);
      return new OutboundError(`${err.code ?? "error"}: ${err.message}`, true);
    };
    const response = new Promise<OutboundStream>((resolve, reject) => {
      // What Node refuses before sending (a header value it cannot encode) is this call's failure, not a crash.
      let req: http.ClientRequest;
      try {
        req = transport.request(target, {
          method: init.method ?? "GET",
          headers: { "user-agent": options.userAgent, ...init.headers },
          lookup,
          agent: target.protocol === "https:" ? agents.https : agents.http,
          signal,
        });
      } catch (err) {
        return reject(new OutboundError(`the request could not be sent: ${(err as Error).message}`, false));
      }
      req.on("error", (err) => reject(describe(err)));
      req.on("response", (res) => {
        async function* body(): AsyncGenerator<Buffer> {
          try {
            for await (const chunk of res) yield chunk as Buffer;
          } catch (err) {
            throw describe(err as Error);
          } finally {
            // Stopped early (too large, or the reader gave up): nothing more is wanted of this exchange.
            if (!res.complete) req.destroy();
          }
          // A body cut short without an error (the server closed mid-answer) is not an answer.
          if (!res.complete)
            throw describe(Object.assign(new Error("the connection closed mid-answer"), { code: "ECONNRESET" }));
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body(), started });
      });
      req.end(init.body);
    });
    return { response, started };
  }
}

/** The answer's body whole, up to `max` bytes; more is a failure. */
export async function readAll(body: AsyncIterable<Buffer>, max: number, status: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) throw new OutboundError(`the answer is larger than ${max} bytes`, false, undefined, status);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function statusError(answer: OutboundResponse): OutboundError {
  const { status } = answer;
  const excerpt = answer.body.subarray(0, 300).toString("utf8").replace(/\s+/g, " ").trim();
  const said = excerpt ? `: ${excerpt}` : "";
  if (status >= 300 && status < 400)
    return new OutboundError(`answered ${status} (redirects are not followed)`, false, undefined, status);
  const retryable = status >= 500 || RETRYABLE_STATUS.has(status);
  return new OutboundError(`answered ${status}${said}`, retryable, retryAfterMs(answer.headers["retry-after"]), status);
}

/** Retry-After as milliseconds from now (delay-seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const ms = /^\d+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/**
 * The pause before attempt `attempt + 1`: exponential from `baseMs`, capped at `maxMs`, with "equal jitter" (half
 * fixed, half random) so that callers failing together do not retry together; a Retry-After longer than that wins.
 */
export function backoffMs(
  attempt: number,
  {
    baseMs,
    maxMs,
    retryAfter,
    random = Math.random,
  }: { baseMs: number; maxMs: number; retryAfter?: number; random?: () => number },
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const delay = ceiling / 2 + random() * (ceiling / 2);
  return Math.max(Math.round(delay), retryAfter ?? 0);
}

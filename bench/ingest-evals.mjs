// What evaluating live traffic costs ingest: OTLP ingest throughput with two enabled evaluators against the same
// ingest without them, on the embedded database and on PostgreSQL (a fresh database on BENCH_DATABASE_URL's server,
// skipped when that server cannot be reached). Target (the evaluators issue): ratio >= 0.90.
//
// The service runs as `promptreg serve` does (bench/servers/registry.mjs, a child process), so its job runner is
// started and the evaluations of what is stored run in the background while ingest goes on, competing with it as
// they would in production. The evaluators are deterministic checks (`json` and `regex`, every span, sample rate 1,
// no target), so the figures are the service's own costs, with no model call to wait on.
//
// Fair and stable:
// - each round starts one server per configuration on a new, empty database (the same state for both), sends the
//   same warm-up and waits until its evaluations are done, so the measured window starts with no backlog;
// - then the same number of requests of the ingest bench's payload (bench/llm-spans.mjs: 512 LLM spans with the
//   answer in `output.value`, protobuf, 4 senders back to back, bodies encoded before the clock starts);
// - the configurations alternate which goes first from round to round, and the ratio is the median of the rounds'
//   ratios: each compares two runs a minute apart, so a change in the machine's load weighs on both.
// Throughput is stored spans over the time from the first request to the last answer (a 200 is a commit; a refused
// request is sent again, as an exporter would, and counted). With evaluators, the clock then runs on until no
// evaluation job is left (the drain, timed in the last round only). Evaluations yield to ingest (the job runner's
// background queues take what time the busy receiver leaves, at least 5%), so most of them run after the last
// request: the drain is the other half of the figure, and is printed with it. A server that answers nothing while
// its job runner works (its event loop held) is reported as such: its counts are read when it answers again, and no
// drain rate is derived from them.
//
// Run after `npm run build`: node bench/ingest-evals.mjs. Knobs: BENCH_ROUNDS (default 5), BENCH_REQUESTS (per round
// and configuration, default 80: a few seconds of ingest, so the seconds the receiver's load takes to register
// weigh little), BENCH_SENDERS, BENCH_SPANS_PER_REQUEST, BENCH_DATABASES (default pglite,postgres),
// BENCH_MAX_INGEST_SECONDS and BENCH_MAX_DRAIN_SECONDS (bounds for a configuration that crawls).
import { fmt, median, postgresReachable, startRegistry, withFreshPostgres } from "./lib.mjs";
import { llmSpanBatches, protobufBody, runSenders } from "./llm-spans.mjs";

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/test";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 80);
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
const SPANS = Number(process.env.BENCH_SPANS_PER_REQUEST ?? 512);
const DATABASES = (process.env.BENCH_DATABASES ?? "pglite,postgres").split(",").map((s) => s.trim());
// Bounds on a round, so that a configuration that crawls still gives figures in reasonable time: no request is sent
// after MAX_INGEST_SECONDS (throughput is then what was stored by the last answer), and the drain is given up after
// MAX_DRAIN_SECONDS (its rate is then what was drained by then).
const MAX_INGEST_SECONDS = Number(process.env.BENCH_MAX_INGEST_SECONDS ?? 60);
const MAX_DRAIN_SECONDS = Number(process.env.BENCH_MAX_DRAIN_SECONDS ?? 600);
const WARMUP_REQUESTS = 16;
const PROMPT = "bench/support";
const TARGET_RATIO = 0.9;
// How often the drain is looked at: a cheap indexed EXISTS, so that looking costs the registry's thread little.
const DRAIN_POLL_MS = 100;
// A first answer after ingest slower than this means the server was not answering: its event loop was held.
const HELD_SECONDS = 1;

const EVALUATORS = [
  { name: "valid-json", kind: "json", target: {}, sampleRate: 1, config: {} },
  { name: "mentions-order", kind: "regex", target: {}, sampleRate: 1, config: { pattern: "order|shipping" } },
];
const EVAL_QUEUES = "('evaluations.fanout', 'evaluations.evaluate')";

async function post(registry, path, body) {
  const res = await fetch(`${registry.base}${path}`, {
    method: "POST",
    headers: registry.headers,
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
}

// Refusals an exporter retries, and 408 (the body was not read in time, which the server's own load can cause) with
// the connection reset that follows it when the body was still being sent: the same body is sent again after a
// pause, and the refusals are counted.
const RESENT_STATUSES = new Set([408, 429, 502, 503, 504]);
const RESEND_PAUSE_MS = 200;
const MAX_SENDS = 20;

/** Sends one ExportTraceServiceRequest until it is stored; counts the refusals met on the way in `refused`, by status. */
async function sendTraces(registry, body, refused = {}) {
  for (let send = 1; ; send++) {
    let status;
    try {
      const res = await fetch(`${registry.origin}/v1/traces`, {
        method: "POST",
        headers: { Authorization: `Bearer ${registry.adminKey}`, "Content-Type": "application/x-protobuf" },
        body,
      });
      const answer = Buffer.from(await res.arrayBuffer());
      // A full success is 200 with an empty response; a partial_success would skew the count.
      if (res.status === 200 && answer.length === 0) return refused;
      if (!RESENT_STATUSES.has(res.status) || send === MAX_SENDS)
        throw new Error(`ingest answered ${res.status} (${answer.length} bytes) after ${send} sends`);
      status = res.status;
    } catch (err) {
      if (err.cause?.code !== "ECONNRESET" || send === MAX_SENDS) throw err;
      status = "reset";
    }
    refused[status] = (refused[status] ?? 0) + 1;
    await new Promise((r) => setTimeout(r, RESEND_PAUSE_MS));
  }
}

const countOf = async (registry, sql) => Number((await registry.query(sql))[0].n);
const storedSpans = (registry) => countOf(registry, "SELECT count(*)::int AS n FROM spans");
const evaluations = (registry) => countOf(registry, "SELECT count(*)::int AS n FROM annotations WHERE kind = 'eval'");
const evalsPending = async (registry) =>
  (await registry.query(`SELECT EXISTS (SELECT 1 FROM jobs WHERE queue IN ${EVAL_QUEUES}) AS pending`))[0].pending;

/**
 * Waits until no evaluation job is left, or `maxSeconds` have passed since `since` (a performance.now()): the seconds
 * since `since`, and whether it drained.
 */
async function drained(registry, since, maxSeconds = Number.POSITIVE_INFINITY) {
  const elapsed = () => (performance.now() - since) / 1000;
  while (await evalsPending(registry)) {
    if (elapsed() > maxSeconds) return { seconds: elapsed(), complete: false };
    await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
  }
  return { seconds: elapsed(), complete: true };
}

/**
 * One configuration on a new server and database: ingest figures and, with evaluators, how many evaluations were done
 * when the server first answered after ingest and, when `drain`, how the rest drained (the server is otherwise
 * stopped with its backlog).
 */
async function round(databaseUrl, { withEvaluators, drain }) {
  const registry = await startRegistry(databaseUrl ? { databaseUrl } : {});
  try {
    await post(registry, `/prompts/${encodeURIComponent(PROMPT)}/versions`, {
      template: "Answer {{question}}",
      labels: ["production"],
    });
    if (withEvaluators) for (const evaluator of EVALUATORS) await post(registry, "/evaluators", evaluator);
    for (const batch of llmSpanBatches(WARMUP_REQUESTS, { spans: SPANS, prompt: PROMPT }))
      await sendTraces(registry, protobufBody(batch));
    if (withEvaluators) await drained(registry, performance.now());
    const bodies = llmSpanBatches(REQUESTS, { spans: SPANS, prompt: PROMPT }).map(protobufBody);
    const spansBefore = await storedSpans(registry);
    const resultsBefore = withEvaluators ? await evaluations(registry) : 0;
    const refused = {};
    let slowestMs = 0;
    let sent = 0;
    const deadline = performance.now() + MAX_INGEST_SECONDS * 1000;
    const seconds = await runSenders(bodies.length, SENDERS, async (i) => {
      if (performance.now() > deadline) return;
      const started = performance.now();
      await sendTraces(registry, bodies[i], refused);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      sent++;
    });
    const ingestEnded = performance.now();
    const stored = (await storedSpans(registry)) - spansBefore;
    if (stored !== sent * SPANS) throw new Error(`stored ${stored} spans, expected ${sent * SPANS}`);
    const figures = { spansPerSec: stored / seconds, seconds, sent, slowestMs, refused };
    if (!withEvaluators) return figures;
    const expected = stored * EVALUATORS.length;
    const done = (await evaluations(registry)) - resultsBefore;
    // The counts are taken on the registry's thread: late when its event loop is held.
    const countedSeconds = (performance.now() - ingestEnded) / 1000;
    const answered = { ...figures, expected, done, countedSeconds, held: countedSeconds > HELD_SECONDS };
    if (!drain) return answered;
    const backlog = await drained(registry, ingestEnded, MAX_DRAIN_SECONDS);
    const total = (await evaluations(registry)) - resultsBefore;
    if (backlog.complete && total !== expected) throw new Error(`${total} evaluations written, expected ${expected}`);
    return {
      ...answered,
      drainSeconds: backlog.seconds,
      drainComplete: backlog.complete,
      drainedCount: total - done,
      // The backlog counted after ingest, worked off since; not known when the count came late.
      drainPerSec: answered.held || total === done ? null : (total - done) / (backlog.seconds - countedSeconds),
      // From the first request until the last result (or the drain given up).
      overallPerSec: total / (seconds + backlog.seconds),
    };
  } finally {
    await registry.stop();
  }
}

const describeRefused = (refused) =>
  Object.entries(refused)
    .map(([status, n]) => `${n} x ${status}`)
    .join(", ") || "none";
const describeSent = (f) => (f.sent < REQUESTS ? ` (stopped after ${f.sent} of ${REQUESTS} requests)` : "");
const describeDone = (on) =>
  on.held
    ? `the server answered the count ${on.countedSeconds.toFixed(1)} s after the last request (held), ${fmt(on.done)} of ${fmt(on.expected)} evaluations done by then`
    : `${fmt(on.done)} of ${fmt(on.expected)} evaluations done when ingest ended`;
function describeDrain(on) {
  if (on.drainSeconds === undefined) return "";
  const rate = on.drainPerSec === null ? "" : ` (${fmt(on.drainPerSec)}/s)`;
  if (!on.drainComplete)
    return `; ${fmt(on.drainedCount)} more in ${on.drainSeconds.toFixed(0)} s, when the drain was given up${rate}`;
  return `; the last evaluation job gone ${on.drainSeconds.toFixed(1)} s after the last request${rate}`;
}

async function bench(kind) {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which configuration goes first, so that a trend in the machine's load weighs on both alike.
    const order = r % 2 === 0 ? [false, true] : [true, false];
    const pair = {};
    for (const withEvaluators of order) {
      const options = { withEvaluators, drain: r === ROUNDS - 1 };
      pair[withEvaluators ? "on" : "off"] =
        kind === "postgres"
          ? await withFreshPostgres(DATABASE_URL, (url) => round(url, options))
          : await round(undefined, options);
    }
    rounds.push(pair);
    const { on, off } = pair;
    console.log(
      `  ${kind} round ${r + 1}/${ROUNDS}: ${fmt(off.spansPerSec)} spans/s without evaluators${describeSent(off)}, ` +
        `${fmt(on.spansPerSec)} with${describeSent(on)} (ratio ${(on.spansPerSec / off.spansPerSec).toFixed(2)}); ` +
        `slowest request ${fmt(off.slowestMs)} and ${fmt(on.slowestMs)} ms; ` +
        `refused and resent ${describeRefused(off.refused)} and ${describeRefused(on.refused)}; ` +
        `${describeDone(on)}${describeDrain(on)}`,
    );
  }
  const ratios = rounds.map((p) => p.on.spansPerSec / p.off.spansPerSec);
  return {
    kind,
    off: median(rounds.map((p) => p.off.spansPerSec)),
    on: median(rounds.map((p) => p.on.spansPerSec)),
    ratio: median(ratios),
    ratios,
    last: rounds[rounds.length - 1].on,
  };
}

const results = [];
for (const kind of DATABASES) {
  if (kind === "postgres" && !(await postgresReachable(DATABASE_URL))) {
    console.log(`PostgreSQL at ${DATABASE_URL} cannot be reached: skipped`);
    continue;
  }
  results.push(await bench(kind));
}

const setup = `${REQUESTS} requests x ${SPANS} spans, ${SENDERS} senders, ${ROUNDS} rounds`;
for (const r of results) {
  const label = r.kind === "pglite" ? "embedded  " : "PostgreSQL";
  const d = r.last;
  console.log(
    `ingest with evaluators ${label} (${setup}): medians ${fmt(r.off)} spans/s without, ${fmt(r.on)} with json + regex on every span; ` +
      `ratio ${r.ratio.toFixed(2)} (median of ${r.ratios.map((x) => x.toFixed(2)).join(", ")}; target >= ${TARGET_RATIO.toFixed(2)})`,
  );
  const left = d.expected - d.done;
  const drain = !d.drainComplete
    ? `NOT drained after ${d.drainSeconds.toFixed(0)} s (${fmt(left - d.drainedCount)} left)`
    : `drained ${d.drainSeconds.toFixed(1)} s after the last request`;
  const rate = d.drainPerSec === null ? "" : `, ${fmt(d.drainPerSec)} evaluations/s`;
  console.log(
    `  evaluations ${label} (last round): ${fmt(d.expected)}; ` +
      `${d.held ? `${fmt(left)} left when the server, held, answered ${d.countedSeconds.toFixed(1)} s after the last request` : `${fmt(left)} left when ingest ended`}; ` +
      `${drain}${rate}; ${fmt(d.overallPerSec)}/s from the first request to the last result`,
  );
}
console.log(
  JSON.stringify({
    bench: "ingest-evals",
    rounds: ROUNDS,
    requests: REQUESTS,
    spansPerRequest: SPANS,
    senders: SENDERS,
    ...Object.fromEntries(
      results.flatMap((r) => [
        [`${r.kind}SpansPerSec`, Math.round(r.off)],
        [`${r.kind}WithEvaluatorsSpansPerSec`, Math.round(r.on)],
        [`${r.kind}Ratio`, Number(r.ratio.toFixed(3))],
        [`${r.kind}HeldSeconds`, r.last.held ? Number(r.last.countedSeconds.toFixed(1)) : 0],
        [`${r.kind}Backlog`, r.last.expected - r.last.done],
        [`${r.kind}DrainSeconds`, r.last.drainComplete ? Number(r.last.drainSeconds.toFixed(1)) : null],
        [`${r.kind}DrainEvaluationsPerSec`, r.last.drainPerSec === null ? null : Math.round(r.last.drainPerSec)],
        [`${r.kind}EvaluationsPerSec`, Math.round(r.last.overallPerSec)],
      ]),
    ),
  }),
);

// An OpenAI-compatible judge on 127.0.0.1: a real HTTP server answering Chat Completions with structured verdicts,
// decided deterministically by the answer it is asked to judge, counting every call per answer. Its mode makes it
// fail the way model servers do: 500s, 429 with Retry-After, a black hole, a 200 that is no verdict; or hold each
// call until the test lets it answer, to act while a judge is answering.
import http from "node:http";
import { llmSpan, moveLabel, publishVersion } from "./factories.js";
import type { Client } from "./harness.js";
import { listen, type Listener } from "./listen.js";
import { newSpanId, newTraceId, type SpanSpec } from "./otlp.js";

export type JudgeMode = "ok" | "500" | "429" | "hole" | "held" | "garbage";

export interface FakeJudge {
  url: string;
  /** Calls per judged answer (the text after "Answer:" in the last message). */
  calls: Map<string, number>;
  total(): number;
  mode: JudgeMode;
  /** While set, each answer's first `calls` calls fail in `mode` (then it recovers); `mode` alone is for all calls. */
  failing?: { mode: Exclude<JudgeMode, "ok">; calls: number };
  /** Called on every request, before it is answered. */
  onCall?: (answer: string) => void;
  /** Answers the first `count` calls held (mode `held`), all by default, as mode `ok` would have. */
  release(count?: number): void;
  close(): Promise<void>;
}

/** The judge prompt the tests publish: the answer after "Answer: ", which the fake reads back. */
export const JUDGE_TEMPLATE = [
  { role: "system", content: "You judge answers. Reply with {passed, score, reason}." },
  { role: "user", content: "Question: {{input}}\nAnswer: {{output}}" },
];

/**
 * `decide` gives the verdict on an answer; by default an answer containing "BAD" fails with score 0.1, others pass
 * with 0.9.
 */
export async function startFakeJudge(
  decide: (answer: string) => { passed: boolean; score: number; reason: string } = (a) =>
    a.includes("BAD")
      ? { passed: false, score: 0.1, reason: "it says BAD" }
      : { passed: true, score: 0.9, reason: "it is helpful" },
): Promise<FakeJudge> {
  const holes = new Set<http.ServerResponse>();
  const held: (() => void)[] = [];
  const answerOk = (res: http.ServerResponse, answer: string) =>
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({
        model: "fake-judge-1",
        choices: [{ message: { role: "assistant", content: JSON.stringify(decide(answer)) } }],
        usage: { prompt_tokens: 50, completion_tokens: 12 },
      }),
    );
  const judge: FakeJudge = {
    url: "",
    calls: new Map(),
    total: () => [...judge.calls.values()].reduce((a, b) => a + b, 0),
    mode: "ok",
    release: (count = held.length) => {
      for (const answer of held.splice(0, count)) answer();
    },
    close: async () => {
      for (const res of holes) res.destroy();
      await listener.close();
    },
  };
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const body = JSON.parse(text || "{}") as { messages?: { content: string }[] };
      const last = body.messages?.at(-1)?.content ?? "";
      const answer = last.slice(last.indexOf("Answer: ") + "Answer: ".length);
      const n = (judge.calls.get(answer) ?? 0) + 1;
      judge.calls.set(answer, n);
      judge.onCall?.(answer);
      const mode = judge.failing && n <= judge.failing.calls ? judge.failing.mode : judge.mode;
      switch (mode) {
        case "500":
          return res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"overloaded"}}');
        case "429":
          return res.writeHead(429, { "retry-after": "1" }).end();
        case "hole":
          holes.add(res);
          return;
        case "held":
          held.push(() => answerOk(res, answer));
          return;
        case "garbage":
          return res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ choices: [{ message: { content: "I think it is fine." } }] }));
        case "ok":
          return answerOk(res, answer);
      }
    });
  });
  const listener: Listener = await listen(server);
  judge.url = `http://127.0.0.1:${listener.port}/v1`;
  return judge;
}

/**
 * Defines, through the API, a prompt `prompt` (1.0.0), the judge prompt evals/helpful (production), a connection to
 * `judge` and the LLM-judge evaluator `helpful` on the prompt's traffic; returns `count` answer spans of 1.0.0, every
 * tenth of them "BAD".
 */
export async function judgedPrompt(as: Client, judge: FakeJudge, prompt: string, count: number): Promise<SpanSpec[]> {
  await publishVersion(as, prompt, { template: "Answer {{q}}", commitMessage: "v1" });
  await publishVersion(as, "evals/helpful", { template: JUDGE_TEMPLATE, commitMessage: "judge" } as never);
  await moveLabel(as, "evals/helpful", "production", "1.0.0");
  await as
    .post("/api/v1/connections", { name: "judge", baseUrl: judge.url, model: "m", timeoutMs: 60_000 })
    .expect(201);
  await as
    .post("/api/v1/evaluators", {
      name: "helpful",
      kind: "llm_judge",
      target: { prompt },
      sampleRate: 1,
      config: { judgePrompt: "evals/helpful@production", connection: "judge" },
    })
    .expect(201);
  return Array.from({ length: count }, (_, i) =>
    llmSpan(prompt, "1.0.0", {
      traceId: newTraceId(),
      spanId: newSpanId(),
      attributes: { "output.value": `answer ${i}${i % 10 === 0 ? " BAD" : ""}` },
    }),
  );
}

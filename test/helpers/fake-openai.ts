// A local stand-in for the OpenAI API (chat completions and embeddings) that answers as OpenAI does: the model it
// is configured to name (a dated one, as OpenAI answers for an alias) or the one asked for, the usage, a first
// stream chunk with the role, and a last chunk with the usage when the request sets `stream_options.include_usage`.
// A chat call's outcome is driven by how its last message ends, so that concurrent calls (and prompts rendered
// around the marker) can each ask for their own:
//   "status:<code>"   answers <code> with an OpenAI error body
//   "hold"            never answers (until destroyHeld)
//   anything else     answers "hello" (as chunks "hel", "lo" when `stream: true`)
// and, with `stream: true` only:
//   "stream:error"    sends "hel", then the error event OpenAI sends when a stream fails
//   "stream:cut"      sends "hel", then holds the connection until destroyHeld() cuts it
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { context, propagation, trace } from "@opentelemetry/api";
import type { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { OpenAIInstrumentation } from "@arizeai/openinference-instrumentation-openai";
import OpenAI from "openai";
import { listen } from "./listen.js";

export interface FakeOpenAIOptions {
  /** The model named in answers. Default: the model asked for. */
  model?: string;
  /** The usage in answers. Default: 11 prompt and 2 completion tokens. */
  usage?: Record<string, unknown>;
}

export interface FakeOpenAI {
  /** For the `openai` client's `baseURL`. */
  baseURL: string;
  /** Chat completion requests received. */
  requests(): number;
  /** The bodies of the chat completion requests, in the order they were read. */
  bodies(): unknown[];
  /** Destroys the connections of held requests ("hold", "stream:cut"); returns how many. */
  destroyHeld(): number;
  close(): Promise<void>;
}

interface ChatBody {
  model: string;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  messages: { content: unknown }[];
}

const ERROR_TYPES: Record<number, string> = { 429: "rate_limit_exceeded", 500: "server_error", 503: "overloaded" };
const USAGE = { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 };

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const data of req) chunks.push(data as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const usage = options.usage ?? USAGE;
  let requests = 0;
  const bodies: unknown[] = [];
  const held = new Set<ServerResponse>();

  function answer(res: ServerResponse, body: ChatBody): void {
    const model = options.model ?? body.model;
    const base = { id: "chatcmpl-test", created: 1_700_000_000, model, system_fingerprint: "fp_test" };
    const content = body.messages.at(-1)?.content;
    const ask = typeof content === "string" ? content : "";
    const status = /status:(\d{3})$/.exec(ask);
    if (status) {
      const code = Number(status[1]);
      const type = ERROR_TYPES[code] ?? "error";
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `fake ${code}`, type, param: null, code: type } }));
      return;
    }
    if (ask.endsWith("hold")) {
      held.add(res);
      return;
    }
    if (!body.stream) {
      const message = { role: "assistant", content: "hello", refusal: null };
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          ...base,
          object: "chat.completion",
          choices: [{ index: 0, message, finish_reason: "stop", logprobs: null }],
          usage,
        }),
      );
      return;
    }
    const chunk = (delta: Record<string, unknown> | undefined, finishReason: string | null, last?: unknown) =>
      `data: ${JSON.stringify({
        ...base,
        object: "chat.completion.chunk",
        choices: delta ? [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] : [],
        ...(last === undefined ? {} : { usage: last }),
      })}\n\n`;
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write(chunk({ role: "assistant", content: "hel" }, null));
    if (ask.endsWith("stream:cut")) {
      held.add(res);
      return;
    }
    if (ask.endsWith("stream:error")) {
      res.end(
        `event: error\ndata: ${JSON.stringify({ error: { message: "fake overload mid-stream", type: "server_error" } })}\n\n`,
      );
      return;
    }
    res.write(chunk({ content: "lo" }, "stop"));
    if (body.stream_options?.include_usage) res.write(chunk(undefined, null, usage));
    res.end("data: [DONE]\n\n");
  }

  const server = createServer(async (req, res) => {
    if (req.method === "POST" && req.url === "/v1/embeddings") {
      await bodyOf(req);
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          object: "list",
          model: "text-embedding-3-small",
          data: [{ object: "embedding", index: 0, embedding: [0.1, 0.2] }],
          usage: { prompt_tokens: 8, total_tokens: 8 },
        }),
      );
      return;
    }
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    requests++;
    const body = JSON.parse(await bodyOf(req)) as ChatBody;
    bodies.push(body);
    answer(res, body);
  });
  const listener = await listen(server);

  return {
    baseURL: `${listener.url}/v1`,
    requests: () => requests,
    bodies: () => bodies,
    destroyHeld() {
      const count = held.size;
      for (const res of held) res.destroy();
      held.clear();
      return count;
    },
    close: listener.close,
  };
}

export interface TracedOpenAI {
  /** The real `openai` client, instrumented, against the fake; no retries. */
  openai: OpenAI;
  fake: FakeOpenAI;
  /** Undoes everything: the instrumentation, the provider (flushed and shut down), the global API state, the fake. */
  close(): Promise<void>;
}

/**
 * As an application runs it: `provider` registered as the global tracer provider and the OpenInference
 * instrumentation of the `openai` package tracing into it, with the client pointed at a fake.
 */
export async function startTracedOpenAI(
  provider: NodeTracerProvider,
  options?: FakeOpenAIOptions,
): Promise<TracedOpenAI> {
  const fake = await startFakeOpenAI(options);
  provider.register();
  const instrumentation = new OpenAIInstrumentation();
  instrumentation.setTracerProvider(provider);
  instrumentation.manuallyInstrument(OpenAI);
  return {
    openai: new OpenAI({ apiKey: "test-key", baseURL: fake.baseURL, maxRetries: 0 }),
    fake,
    async close() {
      instrumentation.disable();
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
      await fake.close();
    },
  };
}

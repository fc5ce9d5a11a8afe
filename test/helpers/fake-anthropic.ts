// A local stand-in for Anthropic's Messages API (POST /v1/messages) that answers as Anthropic does: a dated model
// name, the usage (input tokens without the cached ones, which come apart), and for `stream: true` the server-sent
// events of a message. A call's outcome is driven by how its last message ends, so concurrent calls can each ask for
// their own:
//   "status:<code>"   answers <code> with an Anthropic error body (429 rate_limit_error, 500 api_error, 529 overloaded)
//   anything else     answers "hello" (streamed as "hel", "lo")
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { listen } from "./listen.js";

export interface FakeAnthropicOptions {
  /** The model named in answers (Anthropic answers with the dated model asked for). */
  model: string;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_read_input_tokens?: number;
    cache_creation_input_tokens?: number;
  };
}

export interface FakeAnthropic {
  /** For the client's `baseURL`. */
  baseURL: string;
  requests(): number;
  /** The bodies of the requests, in the order they were read. */
  bodies(): unknown[];
  close(): Promise<void>;
}

const ERROR_TYPES: Record<number, string> = { 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error" };

interface MessagesBody {
  model: string;
  stream?: boolean;
  messages: { content: unknown }[];
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const data of req) chunks.push(data as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
      ? content.map((part) => (part as { text?: string }).text ?? "").join("")
      : "";

export async function startFakeAnthropic(options: FakeAnthropicOptions): Promise<FakeAnthropic> {
  let requests = 0;
  const bodies: unknown[] = [];
  const usage = { cache_read_input_tokens: 0, cache_creation_input_tokens: 0, ...options.usage };

  function answer(res: ServerResponse, body: MessagesBody): void {
    const last = textOf(body.messages.at(-1)?.content);
    const status = /status:(\d{3})$/.exec(last);
    const id = `msg_${requests.toString().padStart(6, "0")}`;
    if (status) {
      const code = Number(status[1]);
      res.writeHead(code, { "Content-Type": "application/json", "request-id": `req_${id}` });
      res.end(
        JSON.stringify({ type: "error", error: { type: ERROR_TYPES[code] ?? "api_error", message: `fake ${code}` } }),
      );
      return;
    }
    const message = {
      id,
      type: "message",
      role: "assistant",
      model: options.model,
      stop_reason: "end_turn",
      stop_sequence: null,
    };
    if (!body.stream) {
      res.writeHead(200, { "Content-Type": "application/json", "request-id": `req_${id}` });
      res.end(JSON.stringify({ ...message, content: [{ type: "text", text: "hello" }], usage }));
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream", "request-id": `req_${id}` });
    const event = (type: string, data: object) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event("message_start", {
      message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
    });
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } });
    event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "hel" } });
    event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "lo" } });
    event("content_block_stop", { index: 0 });
    event("message_delta", {
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: usage.output_tokens },
    });
    event("message_stop", {});
    res.end();
  }

  const server = createServer(async (req, res) => {
    if (req.method !== "POST" || !req.url?.startsWith("/v1/messages")) {
      res.writeHead(404).end();
      return;
    }
    requests++;
    const body = JSON.parse(await bodyOf(req)) as MessagesBody;
    bodies.push(body);
    answer(res, body);
  });
  const listener = await listen(server);
  return { baseURL: listener.url, requests: () => requests, bodies: () => bodies, close: listener.close };
}

// A local stand-in for the OpenAI chat completions endpoint, driven by how the last message ends, so that concurrent
// calls (and prompts rendered around the marker) can each ask for their own outcome:
//   "status:<code>"   answers <code> with an OpenAI error body
//   "hold"            never answers (until destroyHeld)
//   anything else     answers "hello" (as chunks "hel", "lo" when `stream: true`)
// and, with `stream: true` only:
//   "stream:error"    sends "hel", then the error event OpenAI sends when a stream fails
//   "stream:cut"      sends "hel", then holds the connection until destroyHeld() cuts it
import { once } from "node:events";
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface FakeOpenAI {
  /** For the `openai` client's `baseURL`. */
  baseURL: string;
  /** Chat completion requests received. */
  requests(): number;
  /** Destroys the connections of held requests ("hold", "stream:cut"); returns how many. */
  destroyHeld(): number;
  close(): Promise<void>;
}

interface ChatBody {
  model: string;
  stream?: boolean;
  messages: { content: unknown }[];
}

const ERROR_TYPES: Record<number, string> = { 429: "rate_limit_exceeded", 500: "server_error", 503: "overloaded" };

function chunk(model: string, content: string, finishReason: string | null): string {
  const body = {
    id: "chatcmpl-stream",
    object: "chat.completion.chunk",
    created: 1_700_000_000,
    model,
    choices: [{ index: 0, delta: { content }, finish_reason: finishReason, logprobs: null }],
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

function completion(model: string): string {
  return JSON.stringify({
    id: "chatcmpl-test",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: "hello", refusal: null },
        finish_reason: "stop",
        logprobs: null,
      },
    ],
    usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 },
  });
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  let requests = 0;
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    requests++;
    let raw = "";
    req.on("data", (data: Buffer) => (raw += data.toString()));
    req.on("end", () => {
      const body = JSON.parse(raw) as ChatBody;
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
        res.writeHead(200, { "content-type": "application/json" }).end(completion(body.model));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk(body.model, "hel", null));
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
      res.write(chunk(body.model, "lo", "stop"));
      res.end("data: [DONE]\n\n");
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests: () => requests,
    destroyHeld() {
      const count = held.size;
      for (const res of held) res.destroy();
      held.clear();
      return count;
    },
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

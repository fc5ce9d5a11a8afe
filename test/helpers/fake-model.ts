// An OpenAI-compatible model on 127.0.0.1 for experiments: a real HTTP server answering Chat Completions with
// `answer(prompt)`, the text of the request's last message decided deterministically, counting the calls per
// prompt text. `delayMs` holds each answer that long (a model's latency); `failing` fails the next calls with 500.
import http from "node:http";
import { listen, type Listener } from "./listen.js";

export interface FakeModel {
  url: string;
  /** Calls per prompt text (the last message's content). */
  calls: Map<string, number>;
  total(): number;
  /** The request bodies received, in order. */
  requests: Record<string, unknown>[];
  /** Answers the next this many calls with 500. */
  failing: number;
  delayMs: number;
  /** Called on every request, before it is answered. */
  onCall?: (prompt: string) => void;
  /** When set, each answer waits for what it returns (a test holds calls in flight). */
  hold?: (prompt: string) => Promise<void> | undefined;
  close(): Promise<void>;
}

export async function startFakeModel(answer: (prompt: string) => string): Promise<FakeModel> {
  const model: FakeModel = {
    url: "",
    calls: new Map(),
    total: () => [...model.calls.values()].reduce((a, b) => a + b, 0),
    requests: [],
    failing: 0,
    delayMs: 0,
    close: () => listener.close(),
  };
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      const body = JSON.parse(text || "{}") as { messages?: { content: string }[] };
      model.requests.push(body);
      const prompt = body.messages?.at(-1)?.content ?? "";
      model.calls.set(prompt, (model.calls.get(prompt) ?? 0) + 1);
      model.onCall?.(prompt);
      const reply = () => {
        if (model.failing > 0) {
          model.failing--;
          return res.writeHead(500, { "content-type": "application/json" }).end('{"error":{"message":"overloaded"}}');
        }
        res.writeHead(200, { "content-type": "application/json" }).end(
          JSON.stringify({
            model: "fake-model-1",
            choices: [{ message: { role: "assistant", content: answer(prompt) } }],
            usage: { prompt_tokens: 20, completion_tokens: 5 },
          }),
        );
      };
      const held = model.hold?.(prompt);
      if (held) void held.then(reply);
      else if (model.delayMs > 0) setTimeout(reply, model.delayMs);
      else reply();
    });
  });
  const listener: Listener = await listen(server);
  model.url = `http://127.0.0.1:${listener.port}/v1`;
  return model;
}

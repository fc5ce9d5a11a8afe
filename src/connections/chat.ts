// One Chat Completions call through a connection: the request an OpenAI-compatible server takes, the key read from
// the server's environment at the moment of the call, and the answer read defensively (a server that answers 200
// with something else is a failure worth retrying, as a proxy's error page is).
import { z } from "zod";
import { type Outbound, OutboundError, readAll } from "../outbound/outbound.js";

/** What a call needs of a connection. */
export interface ConnectionTarget {
  name: string;
  baseUrl: string;
  model: string;
  apiKeyEnv: string | null;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Sampling parameters a prompt version's config may give a call (OpenAI's names). */
export const CHAT_PARAMS = [
  "temperature",
  "top_p",
  "max_tokens",
  "presence_penalty",
  "frequency_penalty",
  "seed",
  "stop",
] as const;

export interface ChatRequest {
  messages: ChatMessage[];
  /** Instead of the connection's model. */
  model?: string;
  /** Sent as they are (CHAT_PARAMS only). */
  params?: Partial<Record<(typeof CHAT_PARAMS)[number], unknown>>;
  maxTokens?: number;
  /** A JSON Schema the answer must follow (OpenAI's structured outputs). */
  jsonSchema?: { name: string; schema: Record<string, unknown> };
  signal?: AbortSignal;
  /** Answers over this are refused (default MAX_ANSWER_BYTES). */
  maxAnswerBytes?: number;
}

export interface ChatAnswer {
  text: string;
  /** The model the server says answered. */
  model: string | null;
  usage: { promptTokens: number | null; completionTokens: number | null };
  latencyMs: number;
}

/** Answers over this are refused: a verdict or a test reply is a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

const Answer = z.object({
  model: z.string().optional(),
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable().optional() }) }))
    .min(1, "has no choices"),
  usage: z
    .object({ prompt_tokens: z.number().optional(), completion_tokens: z.number().optional() })
    .partial()
    .optional(),
});

/** A streamed answer as it goes: `read` hands each piece of text to `onDelta`, then gives the whole answer. */
export interface ChatStream {
  read(onDelta: (text: string) => void): Promise<ChatAnswer>;
}

const StreamChunk = z.object({
  model: z.string().optional(),
  choices: z
    .array(
      z.object({
        delta: z.object({ content: z.string().nullable().optional() }).partial().optional(),
        finish_reason: z.string().nullable().optional(),
      }),
    )
    .optional(),
  usage: Answer.shape.usage.nullable(),
  error: z.object({ message: z.string().optional() }).loose().optional(),
});

export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/chat/completions`;
}

/** A body that is not what it should be: worth retrying, as a proxy's error page is. */
const notAnswer = (what: string, status: number) =>
  new OutboundError(`answered ${status} with ${what}`, true, undefined, status);

/** The answer of a chat completion's JSON body, or an OutboundError saying what else it was. */
function readAnswer(raw: Buffer, status: number): Omit<ChatAnswer, "latencyMs"> {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString("utf8"));
  } catch {
    throw notAnswer("a body that is not JSON", status);
  }
  const parsed = Answer.safeParse(json);
  if (!parsed.success)
    throw notAnswer(
      `a body that is not a chat completion (${parsed.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; ")})`,
      status,
    );
  const a = parsed.data;
  return {
    text: a.choices[0]!.message.content ?? "",
    model: a.model ?? null,
    usage: { promptTokens: a.usage?.prompt_tokens ?? null, completionTokens: a.usage?.completion_tokens ?? null },
  };
}

/**
 * Reads OpenAI's server-sent events as they arrive: `data:` lines of chunks, `data: [DONE]` at the end, and the
 * `error` event (or a chunk holding `error`) a server sends when the call fails midway. The events are split on the
 * decoded text, so an event (or a UTF-8 character) cut across network chunks is read whole.
 */
async function readEvents(
  body: AsyncIterable<Buffer>,
  status: number,
  maxBytes: number,
  onDelta: (text: string) => void,
): Promise<Omit<ChatAnswer, "latencyMs">> {
  const decoder = new TextDecoder();
  const answer: Omit<ChatAnswer, "latencyMs"> = {
    text: "",
    model: null,
    usage: { promptTokens: null, completionTokens: null },
  };
  let pending = "";
  let size = 0;
  let finished = false;
  const event = (block: string): boolean => {
    let name = "message";
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length === 0) return false;
    const text = data.join("\n");
    if (text === "[DONE]") return true;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw notAnswer(`an event that is not JSON: ${JSON.stringify(text.slice(0, 200))}`, status);
    }
    const chunk = StreamChunk.safeParse(json);
    if (!chunk.success) throw notAnswer(`an event that is not a chat completion chunk`, status);
    const c = chunk.data;
    if (name === "error" || c.error)
      throw new OutboundError(`failed mid-answer: ${c.error?.message ?? text.slice(0, 300)}`, true, undefined, status);
    if (c.model) answer.model = c.model;
    if (c.usage)
      answer.usage = {
        promptTokens: c.usage.prompt_tokens ?? null,
        completionTokens: c.usage.completion_tokens ?? null,
      };
    const piece = c.choices?.[0]?.delta?.content;
    if (piece) {
      answer.text += piece;
      onDelta(piece);
    }
    return false;
  };
  for await (const bytes of body) {
    size += bytes.length;
    if (size > maxBytes)
      throw new OutboundError(`the answer is larger than ${maxBytes} bytes`, false, undefined, status);
    pending += decoder.decode(bytes, { stream: true });
    const blocks = pending.split(/\r?\n\r?\n/);
    pending = blocks.pop()!;
    for (const block of blocks) if (event(block)) finished = true;
  }
  pending += decoder.decode();
  if (pending.trim() && event(pending)) finished = true;
  // A server that closes without [DONE] may have been cut off by a proxy: the text would look whole and be short.
  if (!finished) throw new OutboundError("the answer's stream ended before [DONE]", true, undefined, status);
  return answer;
}

export function createChatClient({ outbound, secrets }: { outbound: Outbound; secrets: ReadonlyMap<string, string> }) {
  /** The request's headers and body as OpenAI takes them; the key is read at the moment of the call. */
  function prepare(target: ConnectionTarget, request: ChatRequest, extra: Record<string, unknown> = {}) {
    const headers: Record<string, string> = { ...target.headers, "content-type": "application/json" };
    if (target.apiKeyEnv) {
      const key = secrets.get(target.apiKeyEnv);
      if (key === undefined)
        throw new OutboundError(`${target.apiKeyEnv} is not set in the server's environment`, false);
      headers.authorization = `Bearer ${key}`;
    }
    const params = Object.fromEntries(
      CHAT_PARAMS.flatMap((name) => (request.params?.[name] === undefined ? [] : [[name, request.params[name]]])),
    );
    const body = {
      ...params,
      model: request.model ?? target.model,
      messages: request.messages,
      ...(request.maxTokens === undefined ? {} : { max_tokens: request.maxTokens }),
      ...(request.jsonSchema
        ? { response_format: { type: "json_schema", json_schema: { ...request.jsonSchema, strict: true } } }
        : {}),
      ...extra,
    };
    return {
      method: "POST" as const,
      headers,
      body: JSON.stringify(body),
      timeoutMs: target.timeoutMs,
      maxResponseBytes: request.maxAnswerBytes ?? MAX_ANSWER_BYTES,
      signal: request.signal,
    };
  }

  return {
    async complete(target: ConnectionTarget, request: ChatRequest): Promise<ChatAnswer> {
      const res = await outbound.request(chatCompletionsUrl(target.baseUrl), prepare(target, request));
      return { ...readAnswer(res.body, res.status), latencyMs: res.latencyMs };
    },

    /**
     * Asks for the answer as a stream (with its usage in the last chunk). Resolves once the server has answered 2xx
     * (a 429 or 5xx rejects here, before any text); what fails after that rejects `read`.
     */
    async stream(target: ConnectionTarget, request: ChatRequest): Promise<ChatStream> {
      const init = prepare(target, request, { stream: true, stream_options: { include_usage: true } });
      const res = await outbound.stream(chatCompletionsUrl(target.baseUrl), init);
      return {
        async read(onDelta) {
          // A server that ignores `stream` answers one JSON completion: its text is then one piece.
          const json = /\bjson\b/i.test(String(res.headers["content-type"] ?? ""));
          const answer = json
            ? await readBuffered(res.body, res.status, init.maxResponseBytes, onDelta)
            : await readEvents(res.body, res.status, init.maxResponseBytes, onDelta);
          return { ...answer, latencyMs: performance.now() - res.started };
        },
      };
    },
  };
}

async function readBuffered(
  body: AsyncIterable<Buffer>,
  status: number,
  maxBytes: number,
  onDelta: (text: string) => void,
): Promise<Omit<ChatAnswer, "latencyMs">> {
  const answer = readAnswer(await readAll(body, maxBytes, status), status);
  if (answer.text) onDelta(answer.text);
  return answer;
}

export type ChatClient = ReturnType<typeof createChatClient>;

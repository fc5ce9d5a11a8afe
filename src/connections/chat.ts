// One Chat Completions call through a connection: the request an OpenAI-compatible server takes, the key read from
// the server's environment at the moment of the call, and the answer read defensively (a server that answers 200
// with something else is a failure worth retrying, as a proxy's error page is).
import { z } from "zod";
import { type Outbound, OutboundError } from "../outbound/outbound.js";

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

export function chatCompletionsUrl(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, "")}/chat/completions`;
}

export function createChatClient({ outbound, secrets }: { outbound: Outbound; secrets: ReadonlyMap<string, string> }) {
  return {
    async complete(target: ConnectionTarget, request: ChatRequest): Promise<ChatAnswer> {
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
      };
      const res = await outbound.request(chatCompletionsUrl(target.baseUrl), {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        timeoutMs: target.timeoutMs,
        maxResponseBytes: request.maxAnswerBytes ?? MAX_ANSWER_BYTES,
        signal: request.signal,
      });
      let json: unknown;
      try {
        json = JSON.parse(res.body.toString("utf8"));
      } catch {
        throw new OutboundError("answered 200 with a body that is not JSON", true, undefined, res.status);
      }
      const parsed = Answer.safeParse(json);
      if (!parsed.success)
        throw new OutboundError(
          `answered 200 with a body that is not a chat completion (${parsed.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; ")})`,
          true,
          undefined,
          res.status,
        );
      const a = parsed.data;
      return {
        text: a.choices[0]!.message.content ?? "",
        model: a.model ?? null,
        usage: { promptTokens: a.usage?.prompt_tokens ?? null, completionTokens: a.usage?.completion_tokens ?? null },
        latencyMs: res.latencyMs,
      };
    },
  };
}

export type ChatClient = ReturnType<typeof createChatClient>;

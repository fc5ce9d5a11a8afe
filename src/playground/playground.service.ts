// The console's playground: a version rendered with variables and sent to a model connection, its answer streamed
// back as it arrives. Everything that can be refused is refused before the model is called (a missing variable is the
// 422 of /render, an unknown connection a 404, a full connection a 429), and a model that fails before answering is
// an error the caller gets as one (502, or 429 for the model's own), so that only a call that has started streams.
// Every call sent is stored as an LLM span linked to the version, with `promptreg.prompt.source = playground`.
import type { Logger } from "pino";
import type { PlaygroundBody, PlaygroundEvent } from "@promptreg/client/contract";
import type { Renderer } from "@promptreg/client/render";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import { CHAT_PARAMS, type ChatAnswer, type ChatClient, type ChatMessage } from "../connections/chat.js";
import type { ConnectionsService } from "../connections/connections.service.js";
import type { ConnectionLimiter } from "../connections/limits.js";
import { AppError } from "../http/errors.js";
import { NotSentError, OutboundError } from "../outbound/outbound.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import type { IngestService } from "../traces/ingest.service.js";
import { llmCallAttributes, newSpanId, newTraceId, ownCallSpan, ownCallsRequest } from "../traces/own-calls.js";
import { type BatchLimits, prepareBatch } from "../traces/span-batch.js";

/** What the playground marks its spans with (`promptreg.prompt.source`, the spans' `source`). */
export const PLAYGROUND_SOURCE = "playground";
/** Tokens asked for when neither the request nor the version's config says. */
const DEFAULT_MAX_TOKENS = 1_024;
/** The streamed answer's bytes (events and their JSON, several times the text) read at most. */
const MAX_STREAM_BYTES = 8 * 1024 * 1024;

type StartEvent = Extract<PlaygroundEvent, { type: "start" }>;
type FinalEvent = Extract<PlaygroundEvent, { type: "done" | "error" }>;

/** A call the model has started answering. */
export interface PlaygroundCall {
  start: StartEvent;
  /** Hands on each piece of text; the final event once the answer is whole or has failed (never throws). */
  read(onDelta: (text: string) => void): Promise<FinalEvent>;
}

const messagesOf = (rendered: ReturnType<Renderer["render"]>): ChatMessage[] =>
  "messages" in rendered
    ? (rendered.messages as ChatMessage[])
    : [{ role: "user", content: (rendered as { text: string }).text }];

/** A model's failure before it answered, as the caller is told it. */
function modelFailure(connection: string, err: OutboundError, ids: { traceId: string; spanId: string }): AppError {
  if (err instanceof NotSentError) return new AppError("rate_limited", err.message, { retryAfterMs: err.retryAfterMs });
  const message = `connection '${connection}' ${err.message}`;
  return new AppError(err.status === 429 ? "rate_limited" : "model_failed", message, ids);
}

export function createPlayground(deps: {
  prompts: Pick<PromptsService, "resolve">;
  renderer: Renderer;
  chat: ChatClient;
  connections: Pick<ConnectionsService, "forCalls" | "exists">;
  limiter: ConnectionLimiter;
  /** An ingest that queues no evaluation: a playground call is not an application's traffic to judge. */
  ingest: Pick<IngestService, "ingest">;
  batchLimits: BatchLimits;
  logger: Logger;
}) {
  const { prompts, renderer, chat, connections, limiter, ingest, batchLimits, logger } = deps;

  return {
    /**
     * Renders, finds the connection and calls it; resolves once the model has started answering. Throws an AppError
     * for everything refused or failed before that. `signal` (the client gone) cancels the call.
     */
    async open(p: Principal, name: string, body: PlaygroundBody, signal: AbortSignal): Promise<PlaygroundCall> {
      requireRole(p, "write");
      const { version } = await prompts.resolve(p, name, body.ref);
      // RenderError is the 422 of /render, naming the variables; nothing is sent.
      const messages = messagesOf(renderer.render(version, body.variables, { strictExtras: body.strictExtras }));
      if (!(await connections.exists(p.projectId, body.connection)))
        throw new AppError("not_found", `no connection named '${body.connection}' in this project`);
      let connection: Awaited<ReturnType<ConnectionsService["forCalls"]>>;
      try {
        connection = await connections.forCalls(p, body.connection);
      } catch (err) {
        if (err instanceof OutboundError) throw new AppError("validation_error", err.message);
        throw err;
      }
      const config = version.config as Record<string, unknown>;
      const model = body.model ?? (typeof config.model === "string" ? config.model : undefined) ?? connection.model;
      const params = Object.fromEntries(
        Object.entries({ max_tokens: DEFAULT_MAX_TOKENS, ...config, ...body.params }).filter(([k]) =>
          (CHAT_PARAMS as readonly string[]).includes(k),
        ),
      );
      const ids = { traceId: newTraceId(), spanId: newSpanId() };
      let release: () => void;
      try {
        release = await limiter.acquire(connection, signal);
      } catch (err) {
        if (err instanceof NotSentError) throw modelFailure(connection.name, err, ids);
        throw err;
      }

      const startedAt = Date.now();
      const sentAt = performance.now();
      /** Stores the call's span: best effort, as an exporter's is; the answer is the caller's either way. */
      const store = async (answer: ChatAnswer | null, error: string | null) => {
        release();
        const call = {
          startedAt,
          endedAt: Date.now(),
          prompt: version,
          connection: { name: connection.name, model },
          messages,
          answer,
          error,
        };
        const span = ownCallSpan(call, {
          ...ids,
          parentSpanId: null,
          name: "playground",
          attributes: {
            ...llmCallAttributes(call),
            "promptreg.prompt.source": PLAYGROUND_SOURCE,
            ...(version.label ? { "promptreg.prompt.label": version.label } : {}),
            "llm.prompt_template.variables": JSON.stringify(body.variables),
            "llm.invocation_parameters": JSON.stringify({ model, ...params }),
            ...(answer ? { "llm.output_messages.0.message.role": "assistant" } : {}),
            ...(answer ? { "llm.output_messages.0.message.content": answer.text } : {}),
            "user.id": p.keyName,
          },
        });
        try {
          await ingest.ingest(
            p.projectId,
            prepareBatch(ownCallsRequest("promptreg-playground", "promptreg.playground", [span]), batchLimits),
          );
        } catch (err) {
          logger.warn({ err }, "could not store a playground call's span");
        }
      };

      let stream: Awaited<ReturnType<ChatClient["stream"]>>;
      try {
        stream = await chat.stream(connection, {
          messages,
          model,
          params,
          signal,
          maxAnswerBytes: MAX_STREAM_BYTES,
        });
      } catch (err) {
        const failure = err instanceof OutboundError ? err : new OutboundError((err as Error).message, false);
        await store(null, failure.message);
        throw modelFailure(connection.name, failure, ids);
      }

      return {
        start: {
          type: "start",
          prompt: { name: version.name, version: version.version },
          connection: connection.name,
          model,
          ...ids,
        },
        async read(onDelta) {
          let firstTokenMs: number | null = null;
          let answer: ChatAnswer;
          try {
            answer = await stream.read((text) => {
              firstTokenMs ??= performance.now() - sentAt;
              onDelta(text);
            });
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            await store(null, message);
            return { type: "error", message: `connection '${connection.name}' ${message}`, ...ids };
          }
          await store(answer, null);
          return {
            type: "done",
            output: answer.text,
            model: answer.model,
            latencyMs: Math.round(answer.latencyMs),
            firstTokenMs: firstTokenMs === null ? null : Math.round(firstTokenMs),
            usage: answer.usage,
            ...ids,
          };
        },
      };
    },
  };
}
export type Playground = ReturnType<typeof createPlayground>;

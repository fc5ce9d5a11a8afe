// An LLM judge: a chat prompt of this registry, resolved when judging (so a judge is versioned, labelled and rolled
// back like any prompt), rendered with what the span asked and answered, sent through a model connection with a
// structured-output request, and read as {passed, score, reason}. An answer that is not that verdict is a failure
// of the call, retried like a 5xx: it says nothing of the answer judged.
import { z } from "zod";
import type { PromptVersion } from "@promptreg/client/contract";
import type { Renderer } from "@promptreg/client/render";
import { backgroundReader } from "../auth/principal.js";
import type { ChatAnswer, ChatClient, ChatMessage } from "../connections/chat.js";
import type { ConnectionsService } from "../connections/connections.service.js";
import type { ConnectionLimiter } from "../connections/limits.js";
import { AppError } from "../http/errors.js";
import { OutboundError } from "../outbound/outbound.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { EVAL_LIMITS } from "./checks.js";
import { type JudgeConfig, parseJudgePrompt } from "./definition.js";

/** The variables a judge prompt may use; `output` it must. */
export const JUDGE_VARIABLES = ["input", "output", "variables", "metadata"] as const;

export interface JudgeInput {
  input: string | null;
  output: string;
  /** The span's template variables (llm.prompt_template.variables). */
  variables: Record<string, unknown>;
  /** The span's metadata attribute. */
  metadata: Record<string, unknown>;
}

export interface JudgeVerdict {
  status: "passed" | "failed";
  score: number;
  reason: string;
  details: { judgePrompt: string; judgeVersion: string; connection: string; model: string };
}

/** One call made to a judge, succeeded or not: what is stored as the EVALUATOR span and its LLM child. */
export interface JudgeCall {
  startedAt: number;
  endedAt: number;
  judgePrompt: PromptVersion;
  connection: { name: string; model: string };
  messages: ChatMessage[];
  answer: ChatAnswer | null;
  error: string | null;
}

export interface Project {
  projectId: string;
  projectName: string;
}

const VERDICT_SCHEMA = {
  type: "object",
  properties: {
    passed: { type: "boolean", description: "Whether the answer meets the criteria" },
    score: { type: "number", description: "How well it meets them, from 0 (not at all) to 1 (fully)" },
    reason: { type: "string", description: "One or two sentences on why" },
  },
  required: ["passed", "score", "reason"],
  additionalProperties: false,
};
const Verdict = z.object({ passed: z.boolean(), score: z.number().finite(), reason: z.string().max(10_000) });
/** A verdict is a few hundred bytes; a judge that writes more is not answering the request. */
const MAX_JUDGE_ANSWER_BYTES = 256 * 1024;
const MAX_JUDGE_TOKENS = 1_000;
/** Characters of the question a judge is sent (the answer is judged whole up to EVAL_LIMITS.maxOutputChars). */
const MAX_JUDGED_CHARS = EVAL_LIMITS.maxOutputChars;

function parseJsonObject(value: unknown): Record<string, unknown> {
  if (typeof value !== "string") return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** What a judge prompt is given of a span beyond its input and output. */
export function judgeContext(attributes: Record<string, unknown>): Pick<JudgeInput, "variables" | "metadata"> {
  return {
    variables: parseJsonObject(attributes["llm.prompt_template.variables"]),
    metadata: parseJsonObject(attributes.metadata),
  };
}

/** The verdict in a judge's answer text, tolerating the code fence some models put around JSON. */
function readVerdict(text: string): z.infer<typeof Verdict> {
  const unfenced = text
    .trim()
    .replace(/^```(?:json)?\s*/i, "")
    .replace(/\s*```$/, "");
  let json: unknown;
  try {
    json = JSON.parse(unfenced);
  } catch {
    throw new OutboundError(
      `the judge's answer is not the JSON verdict {passed, score, reason}: ${JSON.stringify(text.slice(0, 200))}`,
      true,
    );
  }
  const parsed = Verdict.safeParse(json);
  if (!parsed.success)
    throw new OutboundError(
      `the judge's answer is not a verdict {passed, score, reason}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "answer"} ${i.message}`).join("; ")}`,
      true,
    );
  return parsed.data;
}

export function createJudge({
  prompts,
  renderer,
  chat,
  connections,
  limiter,
}: {
  prompts: Pick<PromptsService, "resolve">;
  renderer: Renderer;
  chat: ChatClient;
  connections: Pick<ConnectionsService, "forCalls" | "exists">;
  limiter: ConnectionLimiter;
}) {
  /** The judge prompt's version the reference names now; an AppError (not found) when there is none. */
  async function judgePrompt(project: Project, reference: string): Promise<PromptVersion> {
    const { name, ref } = parseJudgePrompt(reference);
    return (await prompts.resolve(backgroundReader("evaluator", project), name, ref)).version;
  }

  /** Why a judge prompt cannot judge (a 422's message), or undefined when it can. */
  function unfit(version: PromptVersion): string | undefined {
    if (version.type !== "chat")
      return `'${version.name}' version ${version.version} is a ${version.type} prompt: a judge prompt must be a chat prompt`;
    if (!version.variables.some((v) => v.name === "output"))
      return `'${version.name}' version ${version.version} does not use the variable 'output' (the answer to judge)`;
    const unknown = version.variables
      .filter((v) => v.required && !(JUDGE_VARIABLES as readonly string[]).includes(v.name))
      .map((v) => v.name);
    if (unknown.length)
      return `'${version.name}' version ${version.version} requires ${unknown.map((n) => `'${n}'`).join(", ")}, which a judge is not given (it is given ${JUDGE_VARIABLES.join(", ")})`;
    return undefined;
  }

  return {
    unfit,

    /** Checks a judge configuration when it is saved: its prompt resolves to a fit chat prompt, its connection exists. */
    async check(project: Project, config: JudgeConfig): Promise<{ path: string; message: string } | undefined> {
      let version: PromptVersion;
      try {
        version = await judgePrompt(project, config.judgePrompt);
      } catch (err) {
        if (err instanceof AppError) return { path: "body.config.judgePrompt", message: err.message };
        throw err;
      }
      const problem = unfit(version);
      if (problem) return { path: "body.config.judgePrompt", message: problem };
      if (!(await connections.exists(project.projectId, config.connection)))
        return {
          path: "body.config.connection",
          message: `no connection named '${config.connection}' in this project`,
        };
      return undefined;
    },

    /**
     * Judges one answer. `onCall` hears of the call once it is made, answered or not (for its spans); a failure
     * throws an OutboundError (retryable or not), never a verdict.
     */
    async judge(
      project: Project,
      config: JudgeConfig,
      input: JudgeInput,
      options: { signal?: AbortSignal; onCall?: (call: JudgeCall) => Promise<void> },
    ): Promise<JudgeVerdict> {
      let version: PromptVersion;
      try {
        version = await judgePrompt(project, config.judgePrompt);
      } catch (err) {
        if (err instanceof AppError)
          throw new OutboundError(`judge prompt ${config.judgePrompt}: ${err.message}`, false);
        throw err;
      }
      const problem = unfit(version);
      if (problem) throw new OutboundError(problem, false);
      const connection = await connections.forCalls(project, config.connection);
      let rendered: ReturnType<Renderer["render"]>;
      try {
        // The question goes as far as the answer may: a judge is not sent megabytes of conversation.
        const question = input.input ?? "";
        rendered = renderer.render(version, {
          ...input,
          input: question.length > MAX_JUDGED_CHARS ? `${question.slice(0, MAX_JUDGED_CHARS)}…` : question,
        });
      } catch (err) {
        throw new OutboundError(`the judge prompt could not be rendered: ${(err as Error).message}`, false);
      }
      if (!("messages" in rendered)) throw new OutboundError("the judge prompt did not render to messages", false);
      const messages = rendered.messages as ChatMessage[];
      const release = await limiter.acquire(connection, options.signal);
      const startedAt = Date.now();
      let answer: ChatAnswer | null = null;
      let error: string | null = null;
      try {
        answer = await chat.complete(connection, {
          messages,
          maxTokens: MAX_JUDGE_TOKENS,
          jsonSchema: { name: "verdict", schema: VERDICT_SCHEMA },
          signal: options.signal,
          maxAnswerBytes: MAX_JUDGE_ANSWER_BYTES,
        });
        const verdict = readVerdict(answer.text);
        const passed = config.threshold === null ? verdict.passed : verdict.score >= config.threshold;
        return {
          status: passed ? "passed" : "failed",
          score: verdict.score,
          reason: verdict.reason,
          details: {
            judgePrompt: version.name,
            judgeVersion: version.version,
            connection: connection.name,
            model: answer.model ?? connection.model,
          },
        };
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
        throw err;
      } finally {
        release();
        await options.onCall?.({
          startedAt,
          endedAt: Date.now(),
          judgePrompt: version,
          connection: { name: connection.name, model: connection.model },
          messages,
          answer,
          error,
        });
      }
    },
  };
}
export type Judge = ReturnType<typeof createJudge>;

// What `get` returns: a small object per call around shared, frozen version data. It is per call because it remembers
// the values of its last render (for the trace link), and a cached version is shared by concurrent requests.
import type { Span } from "@opentelemetry/api";
import type { ChatMessage, PromptType, PromptVersion, Template, VariableSpec } from "./contract.js";
import { versionUrl } from "./http.js";
import type { RenderOptions, Renderer } from "./render.js";
import { tagSpan, withPrompt } from "./tracing.js";
import type { PromptLink, PromptSource, RolloutLink } from "./types.js";

export interface TraceOptions {
  /** The variables recorded on the span. Default: the values of this prompt's last `render`. */
  variables?: Record<string, unknown>;
  /** `session.id` on the span. Default: the `sessionId` given to `get`. */
  sessionId?: string;
  /** `user.id` on the span. Default: the `userId` given to `get`. */
  userId?: string;
}

export interface TagOptions {
  /** Default: the active span. */
  span?: Span;
  /** Tag it even when it is not an LLM span. Default: false. */
  force?: boolean;
}

interface PromptCommon {
  readonly name: string;
  /** The prompt's id on the server; empty for a fallback. */
  readonly promptId: string;
  readonly type: PromptType;
  /** The semver string; `"fallback"` for an inline fallback of no known version. */
  readonly version: string;
  readonly template: Template;
  readonly config: Readonly<Record<string, unknown>>;
  /** The variable contract: each variable the template uses or the schema declares, required or not, typed when known. */
  readonly variables: readonly VariableSpec[];
  /** The label the version was resolved through, when it was. */
  readonly label: string | undefined;
  /**
   * When the label is under a guarded rollout: the rollout, the arm this call's assignment key fell in (this
   * prompt is that arm's version) and the step. Recorded on linked spans.
   */
  readonly rollout: RolloutLink | undefined;
  /** Where this came from: `network`, `cache` (registry answering), `stale` (registry failing), `snapshot`, `fallback`. */
  readonly source: PromptSource;
  readonly contentHash: string;
  /** The version's URL on the server; undefined for a fallback of no known version. */
  readonly url: string | undefined;
  /**
   * Renders a text prompt: what `render` returns when `type` is `"text"`, typed without narrowing first.
   * @throws {RenderError} as `render` does
   * @throws {TypeError} when this is a chat prompt
   */
  renderText(values?: Record<string, unknown>, options?: RenderOptions): string;
  /**
   * Renders a chat prompt: what `render` returns when `type` is `"chat"`, typed without narrowing first. The messages
   * can be given as they are to chat APIs such as OpenAI's `chat.completions.create`.
   * @throws {RenderError} as `render` does
   * @throws {TypeError} when this is a text prompt
   */
  renderMessages(values?: Record<string, unknown>, options?: RenderOptions): ChatMessage[];
  /**
   * Runs `fn` (the LLM call) with the prompt linked to the spans it starts: OpenInference instrumentations pick the
   * link up, and other spans do with `createPromptSpanProcessor()`.
   * @example
   * const messages = prompt.renderMessages({ question });
   * await prompt.trace(() => openai.chat.completions.create({ model, messages }));
   */
  trace<T>(fn: () => T, options?: TraceOptions): T;
  /** Tags a span (default: the active one, if it is an LLM span, or any span with `force`); returns whether it did. */
  tag(options?: TagOptions): boolean;
  /** What `trace` and `tag` link spans to. */
  link(): PromptLink;
}

export interface TextPrompt extends PromptCommon {
  readonly type: "text";
  /**
   * Renders the template with `values` (Handlebars, no HTML escaping), exactly as the server's render endpoint does.
   * @throws {RenderError} code `missing_variables` (`details.missing`: every missing name, nested paths included),
   * `unexpected_variables` (with `strictExtras`; `details.unexpected`) or `invalid_variables` (a placeholder given
   * something other than a list of messages, or values against the version's JSON Schema; `details.errors`)
   */
  render(values?: Record<string, unknown>, options?: RenderOptions): string;
}

export interface ChatPrompt extends PromptCommon {
  readonly type: "chat";
  /**
   * Renders each message (placeholders are filled with the given message lists, never rendered as templates).
   * @throws {RenderError} code `missing_variables` (`details.missing`: every missing name, nested paths included),
   * `unexpected_variables` (with `strictExtras`; `details.unexpected`) or `invalid_variables` (a placeholder given
   * something other than a list of messages, or values against the version's JSON Schema; `details.errors`)
   */
  render(values?: Record<string, unknown>, options?: RenderOptions): ChatMessage[];
}

/**
 * A prompt version ready to render and to link to spans. `renderText()` / `renderMessages()` are typed without
 * narrowing (and throw on the other type); narrowing on `type` types `render()`'s result.
 */
export type Prompt = TextPrompt | ChatPrompt;

export interface PromptContext {
  renderer: Renderer;
  /** Undefined when the version is not on the server (a fallback of no known version). */
  baseUrl: string | undefined;
  sessionId: string | undefined;
  userId: string | undefined;
  /** The guarded rollout this call is in, and its arm; undefined outside one. */
  rollout?: RolloutLink;
}

class RegistryPrompt {
  readonly source: PromptSource;
  readonly #version: PromptVersion;
  readonly #context: PromptContext;
  #lastValues: Record<string, unknown> | undefined;

  constructor(version: PromptVersion, source: PromptSource, context: PromptContext) {
    this.#version = version;
    this.source = source;
    this.#context = context;
  }

  get name(): string {
    return this.#version.name;
  }
  get promptId(): string {
    return this.#version.promptId;
  }
  get type(): PromptType {
    return this.#version.type;
  }
  get version(): string {
    return this.#version.version;
  }
  get template(): Template {
    return this.#version.template;
  }
  get config(): Readonly<Record<string, unknown>> {
    return this.#version.config;
  }
  get variables(): readonly VariableSpec[] {
    return this.#version.variables;
  }
  get label(): string | undefined {
    return this.#version.label;
  }
  get rollout(): RolloutLink | undefined {
    return this.#context.rollout;
  }
  get contentHash(): string {
    return this.#version.contentHash;
  }
  get url(): string | undefined {
    const { baseUrl } = this.#context;
    return baseUrl === undefined ? undefined : versionUrl(baseUrl, this.#version.name, this.#version.version);
  }

  render(values: Record<string, unknown> = {}, options?: RenderOptions): string | ChatMessage[] {
    const result = this.#context.renderer.render(this.#version, values, options);
    this.#lastValues = values;
    return "text" in result ? result.text : result.messages;
  }

  renderText(values?: Record<string, unknown>, options?: RenderOptions): string {
    this.#expect("text", "renderText");
    return this.render(values, options) as string;
  }

  renderMessages(values?: Record<string, unknown>, options?: RenderOptions): ChatMessage[] {
    this.#expect("chat", "renderMessages");
    return this.render(values, options) as ChatMessage[];
  }

  // Checked before rendering, so that a wrong call fails the same way whatever the values.
  #expect(type: PromptType, method: string): void {
    const { name, version, type: actual } = this.#version;
    if (actual === type) return;
    // The source matters: an inline fallback of the other type only shows up during an outage.
    throw new TypeError(
      `${method}() needs a ${type} prompt; ${name} ${version} (source ${this.source}) is a ${actual} prompt: ` +
        `use ${type === "text" ? "renderMessages" : "renderText"}(), or render() after checking prompt.type`,
    );
  }

  trace<T>(fn: () => T, options: TraceOptions = {}): T {
    const link = this.link();
    if (options.variables !== undefined) link.variables = options.variables;
    if (options.sessionId !== undefined) link.sessionId = options.sessionId;
    if (options.userId !== undefined) link.userId = options.userId;
    return withPrompt(link, fn);
  }

  tag(options?: TagOptions): boolean {
    return tagSpan(this.link(), options);
  }

  link(): PromptLink {
    const link: PromptLink = {
      name: this.#version.name,
      version: this.#version.version,
      template: this.#version.template,
      source: this.source,
    };
    if (this.#lastValues !== undefined) link.variables = this.#lastValues;
    if (this.#version.label !== undefined) link.label = this.#version.label;
    const url = this.url;
    if (url !== undefined) link.url = url;
    if (this.#context.sessionId !== undefined) link.sessionId = this.#context.sessionId;
    if (this.#context.userId !== undefined) link.userId = this.#context.userId;
    if (this.#context.rollout !== undefined) link.rollout = this.#context.rollout;
    return link;
  }
}

export function createPrompt(version: PromptVersion, source: PromptSource, context: PromptContext): Prompt {
  return new RegistryPrompt(version, source, context) as unknown as Prompt;
}

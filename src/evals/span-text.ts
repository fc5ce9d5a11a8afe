// What an LLM call was asked and what it answered, as text, from its span's attributes: what evaluators judge. Each
// instrumentation records it its own way (seen on the real packages in test/stacks.test.ts), so the conventions are
// read in order, most specific first:
//   OpenInference    llm.input_messages.N.message.{role,content | contents.M.message_content.text}, and
//                    llm.output_messages.N…; else input.value / output.value (text, or a provider's JSON answer)
//   GenAI            gen_ai.input.messages / gen_ai.output.messages (JSON: [{role, parts: [{type, content}]}]), and
//                    the older indexed gen_ai.prompt.N.{role,content} / gen_ai.completion.N.content
//   Vercel AI SDK    ai.prompt.messages (or ai.prompt: {system, prompt, messages}) / ai.response.text (or .object)
// A conversation becomes "role: text" lines. Neither is ever guessed from another attribute.

type Attributes = Record<string, unknown>;

export interface SpanText {
  /** The conversation or prompt sent, or null when the span does not carry it. */
  input: string | null;
  /** The model's answer, or null when the span does not carry it (e.g. content capture is off). */
  output: string | null;
  /** The attribute (or family) the output was read from. */
  outputFrom: string | null;
}

interface Message {
  role: string;
  text: string;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The text of a message's content in any of the shapes above: a string, or parts with `text` or `content`. */
function contentText(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  const texts = content
    .map((part) => {
      if (typeof part === "string") return part;
      if (part === null || typeof part !== "object") return undefined;
      const p = part as Record<string, unknown>;
      if (p.type !== undefined && p.type !== "text") return undefined;
      return str(p.text) ?? str(p.content);
    })
    .filter((t): t is string => t !== undefined);
  return texts.length ? texts.join("") : undefined;
}

/** Indexed messages under `prefix` (prefix + "0.", "1.", …), each read by `read`, until the first index missing. */
function indexed(prefix: string, read: (at: string) => Message | undefined): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 1000; i++) {
    const m = read(`${prefix}${i}.`);
    if (!m) break;
    out.push(m);
  }
  return out;
}

function openInferenceMessages(a: Attributes, prefix: string): Message[] {
  return indexed(prefix, (at) => {
    const role = str(a[`${at}message.role`]);
    let text = str(a[`${at}message.content`]);
    if (text === undefined) {
      const parts = indexed(`${at}message.contents.`, (p) => {
        const t = str(a[`${p}message_content.text`]);
        return t === undefined && a[`${p}message_content.type`] === undefined ? undefined : { role: "", text: t ?? "" };
      });
      if (parts.length) text = parts.map((p) => p.text).join("");
    }
    return role === undefined && text === undefined ? undefined : { role: role ?? "", text: text ?? "" };
  });
}

function genAiIndexed(a: Attributes, prefix: string): Message[] {
  return indexed(prefix, (at) => {
    const role = str(a[`${at}role`]);
    const text = str(a[`${at}content`]);
    return role === undefined && text === undefined ? undefined : { role: role ?? "", text: text ?? "" };
  });
}

/** A JSON array of messages with `content` (string or parts) or GenAI's `parts`. */
function jsonMessages(value: unknown): Message[] {
  const list = parseJson(str(value));
  if (!Array.isArray(list)) return [];
  return list.flatMap((m) => {
    if (m === null || typeof m !== "object") return [];
    const r = m as Record<string, unknown>;
    const text = contentText(r.parts) ?? contentText(r.content);
    return text === undefined ? [] : [{ role: str(r.role) ?? "", text }];
  });
}

function aiSdkPrompt(a: Attributes): Message[] {
  const messages = jsonMessages(a["ai.prompt.messages"]);
  if (messages.length) return messages;
  const prompt = parseJson(str(a["ai.prompt"]));
  if (prompt === null || typeof prompt !== "object") return [];
  const p = prompt as Record<string, unknown>;
  const out: Message[] = [];
  if (typeof p.system === "string") out.push({ role: "system", text: p.system });
  if (typeof p.prompt === "string") out.push({ role: "user", text: p.prompt });
  if (Array.isArray(p.messages)) out.push(...jsonMessages(JSON.stringify(p.messages)));
  return out;
}

const transcript = (messages: Message[]) => messages.map((m) => (m.role ? `${m.role}: ${m.text}` : m.text)).join("\n");
/** An answer is the assistant's text; several answer messages (choices, or content blocks as messages) are joined. */
const answer = (messages: Message[]) =>
  messages
    .filter((m) => m.role === "" || m.role === "assistant" || m.role === "model")
    .map((m) => m.text)
    .join("\n");

/** output.value as OpenInference puts it: text as it is; JSON only when it is a plain string. */
function plainValue(a: Attributes, key: "input.value" | "output.value"): string | undefined {
  const value = str(a[key]);
  if (value === undefined) return undefined;
  const mime = str(a[key === "input.value" ? "input.mime_type" : "output.mime_type"]);
  if (mime !== "application/json") return value;
  const parsed = parseJson(value);
  return typeof parsed === "string" ? parsed : undefined;
}

export function spanText(a: Attributes): SpanText {
  const outputs: [string, () => string | undefined][] = [
    ["llm.output_messages", () => answer(openInferenceMessages(a, "llm.output_messages.")) || undefined],
    ["gen_ai.output.messages", () => answer(jsonMessages(a["gen_ai.output.messages"])) || undefined],
    ["gen_ai.completion", () => answer(genAiIndexed(a, "gen_ai.completion.")) || undefined],
    ["ai.response.text", () => str(a["ai.response.text"])],
    ["ai.response.object", () => str(a["ai.response.object"])],
    ["output.value", () => plainValue(a, "output.value")],
  ];
  const inputs: (() => string | undefined)[] = [
    () => transcript(openInferenceMessages(a, "llm.input_messages.")) || undefined,
    () => transcript(jsonMessages(a["gen_ai.input.messages"])) || undefined,
    () => transcript(genAiIndexed(a, "gen_ai.prompt.")) || undefined,
    () => transcript(aiSdkPrompt(a)) || undefined,
    () => plainValue(a, "input.value"),
  ];
  let output: string | null = null;
  let outputFrom: string | null = null;
  for (const [from, read] of outputs) {
    const text = read();
    if (text !== undefined) {
      output = text;
      outputFrom = from;
      break;
    }
  }
  let input: string | null = null;
  for (const read of inputs) {
    const text = read();
    if (text !== undefined) {
      input = text;
      break;
    }
  }
  return { input, output, outputFrom };
}

// The prompt object's typed rendering (`renderText`, `renderMessages`) and the errors a caller handles, imported from
// the package root as an application would, against the real registry.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, RenderError, type ChatMessage } from "../src/index.js";
import { startRegistry, type Registry } from "./helpers.js";
import { thrown } from "./rendering.js";
import { startFakeOpenAI } from "../../test/helpers/fake-openai.js";

let registry: Registry;

beforeAll(async () => {
  registry = await startRegistry();
  await registry.publish("typed/text", "Classify for {{company}}: {{question}}", ["production"]);
  await registry.publish(
    "typed/chat",
    [
      { role: "developer", content: "Answer for {{company}} — briefly." },
      { type: "placeholder", name: "history" },
      { role: "user", content: "{{question}}" },
    ],
    ["production"],
  );
});
afterAll(() => registry?.close());

const client = () =>
  createClient({ baseUrl: registry.baseUrl, apiKey: registry.harness.adminKey, retryBaseDelayMs: 1 });

describe("typed rendering", () => {
  const values = { company: "Ünïcode & Co", question: "Où est mon remboursement ? 0.25 €" };
  const history: ChatMessage[] = [
    { role: "user", content: "" },
    { role: "assistant", content: "{{company}} is not rendered" },
  ];

  it("renders a text prompt with renderText and a chat prompt with renderMessages, as render does", async () => {
    const c = client();
    const text = await c.get("typed/text");
    expect(text.renderText(values)).toBe("Classify for Ünïcode & Co: Où est mon remboursement ? 0.25 €");
    expect(text.renderText(values)).toBe(text.render(values));

    const chat = await c.get("typed/chat");
    const messages = chat.renderMessages({ ...values, history });
    expect(messages).toEqual([
      { role: "developer", content: "Answer for Ünïcode & Co — briefly." },
      { role: "user", content: "" },
      { role: "assistant", content: "{{company}} is not rendered" },
      { role: "user", content: "Où est mon remboursement ? 0.25 €" },
    ]);
    expect(chat.link().variables).toEqual({ ...values, history });
  });

  it("throws a TypeError naming the prompt, its source and the method to use, before rendering anything", async () => {
    const c = client();
    const text = await c.get("typed/text");
    const chat = await c.get("typed/chat");
    const wrongText = thrown(() => text.renderMessages(values));
    expect(wrongText).toBeInstanceOf(TypeError);
    expect((wrongText as Error).message).toBe(
      "renderMessages() needs a chat prompt; typed/text 1.0.0 (source network) is a text prompt: use renderText(), or render() after checking prompt.type",
    );
    // Missing variables are not what is wrong: the type is, whatever the values.
    expect(thrown(() => chat.renderText({}))).toBeInstanceOf(TypeError);
    expect((thrown(() => chat.renderText({})) as Error).message).toMatch(
      /^renderText\(\) needs a text prompt; typed\/chat 1\.0\.0 \(source network\) is a chat prompt: use renderMessages\(\)/,
    );
    expect(text.link().variables).toBeUndefined();
  });

  it("says so when the inline fallback is of the other type, which only shows during an outage", async () => {
    const listener = await registry.listenAgain();
    await listener.close();
    const down = createClient({ baseUrl: listener.url, apiKey: registry.harness.adminKey, maxRetries: 0 });
    const prompt = await down.get("typed/chat", { fallback: "Answer: {{question}}" });
    expect(prompt.source).toBe("fallback");
    expect((thrown(() => prompt.renderMessages(values)) as Error).message).toContain(
      "typed/chat fallback (source fallback) is a text prompt",
    );
  });

  it("throws RenderError, exported from the package root, with the code and details the README lists", async () => {
    const chat = await client().get("typed/chat");
    const missing = thrown(() => chat.renderMessages({ question: "q" }));
    expect(missing).toBeInstanceOf(RenderError);
    expect(missing).toMatchObject({
      name: "RenderError",
      code: "missing_variables",
      details: { missing: ["company", "history"] },
    });
    const extra = thrown(() => chat.renderMessages({ ...values, history, tone: "dry" }, { strictExtras: true }));
    expect(extra).toMatchObject({ code: "unexpected_variables", details: { unexpected: ["tone"] } });
    const invalid = thrown(() => chat.renderMessages({ ...values, history: [{ role: "user" }] }));
    expect(invalid).toMatchObject({ code: "invalid_variables", details: { errors: [{ path: "/history/0" }] } });
  });

  it("gives messages that the real openai client sends as they are", async () => {
    // A local server standing in for the OpenAI API: what matters is the request the real client builds.
    const fake = await startFakeOpenAI();
    try {
      const openai = new OpenAI({ apiKey: "sk-test", baseURL: fake.baseURL, maxRetries: 0 });
      const chat = await client().get("typed/chat");
      const messages = chat.renderMessages({ ...values, history });
      const completion = await chat.trace(() => openai.chat.completions.create({ model: "gpt-4o-mini", messages }));
      expect(completion.choices[0]?.message.content).toBe("hello");
      expect(fake.bodies()).toEqual([{ model: "gpt-4o-mini", messages }]);
    } finally {
      await fake.close();
    }
  });
});

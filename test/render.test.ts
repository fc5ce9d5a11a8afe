import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishVersion } from "./helpers/factories.js";
import { createHarness, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let writer: Client;
let reader: Client;

beforeAll(async () => {
  h = await createHarness();
  writer = h.as(await h.newKey("write"));
  reader = h.as(await h.newKey("read"));
});
afterAll(() => h?.close());

describe("render", () => {
  it("renders text without HTML escaping and names every missing variable", async () => {
    await publishVersion(writer, "greet", {
      template: "Hi {{name}} <{{company}}> & {{user.email}}",
      labels: ["staging"],
    });
    const ok = await reader.post("/api/v1/prompts/greet/render", {
      ref: "staging",
      variables: { name: "Ann & Bob", company: "<Acme>", user: { email: "a@b.c" } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      text: "Hi Ann & Bob <<Acme>> & a@b.c",
      prompt: { name: "greet", version: "1.0.0", label: "staging" },
    });
    const missing = await reader.post("/api/v1/prompts/greet/render", { ref: "latest", variables: { user: {} } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe("missing_variables");
    expect(missing.body.error.details.missing).toEqual(["company", "name", "user.email"]);
  });

  it("refuses extra variables only when asked, and type-checks with the JSON Schema", async () => {
    await publishVersion(writer, "typed", {
      template: "{{count}} items for {{who}}",
      variablesSchema: {
        type: "object",
        properties: { count: { type: "integer" }, who: { type: "string" } },
        required: ["count", "who"],
      },
    });
    const extra = { ref: "latest", variables: { count: 2, who: "me", other: 1 } };
    expect((await reader.post("/api/v1/prompts/typed/render", extra)).body.text).toBe("2 items for me");
    const strict = await reader.post("/api/v1/prompts/typed/render", { ...extra, strictExtras: true });
    expect(strict.status).toBe(422);
    expect(strict.body.error).toMatchObject({ code: "unexpected_variables", details: { unexpected: ["other"] } });
    const wrong = await reader.post("/api/v1/prompts/typed/render", {
      ref: "latest",
      variables: { count: "two", who: "me" },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe("invalid_variables");
  });

  it("renders chat prompts and fills placeholders in place, without rendering their content", async () => {
    await publishVersion(writer, "chat", {
      template: [
        { role: "system", content: "You work for {{company}}." },
        { type: "placeholder", name: "history" },
        { role: "user", content: "{{question}}" },
      ],
    });
    const res = await reader.post("/api/v1/prompts/chat/render", {
      ref: "latest",
      variables: {
        company: "Acme",
        question: "Where is my order?",
        history: [
          { role: "user", content: "hi {{company}}" },
          { role: "assistant", content: "hello" },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.messages).toEqual([
      { role: "system", content: "You work for Acme." },
      { role: "user", content: "hi {{company}}" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "Where is my order?" },
    ]);
    const missing = await reader.post("/api/v1/prompts/chat/render", { ref: "latest", variables: { company: "A" } });
    expect(missing.body.error.details.missing).toEqual(["history", "question"]);
  });

  it("defaults to production and validates the body", async () => {
    await publishVersion(writer, "defaulted", "x");
    expect((await reader.post("/api/v1/prompts/defaulted/render", { variables: {} })).status).toBe(404);
    const bad = await reader.post("/api/v1/prompts/defaulted/render", { variables: [] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.details.issues[0].path).toBe("body.variables");
  });
});

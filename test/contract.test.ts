// The variable contract end to end: publish a version, publish an edit without a version, and check the version
// the server chose, the reasons, the diff, and that callers of the previous version are not broken.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, enc, type Client, type Harness } from "./helpers/harness.js";

let h: Harness;
let writer: Client;

beforeAll(async () => {
  h = await createHarness();
  writer = h.as(await h.newKey("write"));
});
afterAll(() => h?.close());

const publish = (name: string, body: object) => writer.post(`/api/v1/prompts/${enc(name)}/versions`, body);
const render = (name: string, ref: string, variables: object, strictExtras?: boolean) =>
  writer.post(`/api/v1/prompts/${enc(name)}/render`, {
    ref,
    variables,
    ...(strictExtras === undefined ? {} : { strictExtras }),
  });
const diff = (name: string, from: string, to: string) =>
  writer.get(`/api/v1/prompts/${enc(name)}/diff?from=${from}&to=${to}`);

/** Publishes `first`, then `edit` without a version; returns the edit's answer and the diff between the two. */
async function bump(name: string, first: object, edit: object) {
  const v1 = await publish(name, first);
  expect(v1.status, JSON.stringify(v1.body)).toBe(201);
  const v2 = await publish(name, edit);
  expect(v2.status, JSON.stringify(v2.body)).toBe(201);
  const d = await diff(name, v1.body.version, v2.body.version);
  expect(d.status).toBe(200);
  return { version: v2.body.version as string, variables: v2.body.variables, diff: d.body };
}

describe("a stricter variables schema", () => {
  const schema = (question: object, more: object = {}) => ({
    type: "object",
    properties: { question: { type: "string", ...question }, plan: { type: "string" } },
    required: ["question"],
    ...more,
  });
  const template = "Plan {{plan}}. Question: {{question}}";
  const long = "¿".repeat(300);

  it.each([
    [
      "maxLength",
      schema({ maxLength: 200 }),
      "variablesSchema: 'question' now allows at most 200 characters (was no limit)",
    ],
    [
      "enum",
      schema({ enum: ["refund?", "shipping?"] }),
      `variablesSchema: 'question' must now be one of "refund?", "shipping?"`,
    ],
    [
      "additionalProperties: false",
      schema({}, { additionalProperties: false }),
      "variablesSchema: variables other than 'plan', 'question' are refused now (additionalProperties: false)",
    ],
  ])(
    "adding %s is a major bump, named as the reason, and ^1 keeps serving what it accepted",
    async (keyword, stricter, reason) => {
      const name = `schema-${keyword.replace(/\W+/g, "-")}`;
      const result = await bump(
        name,
        { template, variablesSchema: schema({}) },
        { template, variablesSchema: stricter },
      );
      expect(result.version).toBe("2.0.0");
      expect(result.diff.requiredBump).toEqual({ bump: "major", reasons: [reason] });
      expect(result.diff.template.changed).toBe(false);
      // A caller pinned to ^1 still renders what it always did; the stricter version refuses it.
      const input = { question: long, plan: "pro", locale: "es" };
      expect((await render(name, "^1.0", input)).status).toBe(200);
      const refused = await render(name, "2.0.0", input);
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe("invalid_variables");
    },
  );

  it("refuses asking for a patch for it, with the reason", async () => {
    await publish("schema-patch", { template, variablesSchema: schema({}) });
    const res = await publish("schema-patch", { template, variablesSchema: schema({ maxLength: 200 }), bump: "patch" });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toBe(
      "a patch bump was asked for, but this change needs a major bump: variablesSchema: 'question' now allows at most 200 characters (was no limit)",
    );
  });

  it("is minor when it only accepts more, and patch when it accepts the same", async () => {
    const name = "schema-looser";
    await publish(name, { template, variablesSchema: schema({ maxLength: 200 }) });
    const looser = await publish(name, { template, variablesSchema: schema({ maxLength: 500 }) });
    expect(looser.body.version).toBe("1.1.0");
    expect((await diff(name, "1.0.0", "1.1.0")).body.requiredBump).toEqual({
      bump: "minor",
      reasons: ["variablesSchema changed: it accepts everything it did, and more"],
    });
    const described = await publish(name, {
      template,
      variablesSchema: schema({ maxLength: 500, description: "what the user asked" }),
    });
    expect(described.body.version).toBe("1.1.1");
    expect((await diff(name, "1.1.0", "1.1.1")).body.requiredBump).toEqual({
      bump: "patch",
      reasons: ["variablesSchema changed: it accepts the same values"],
    });
  });
});

describe("nested paths", () => {
  it("a new required path is a major bump, listed in the diff", async () => {
    const result = await bump(
      "nested-plan",
      { template: "Name: {{user.name}}" },
      { template: "Name: {{user.name}}, plan {{user.plan}}" },
    );
    expect(result.version).toBe("2.0.0");
    expect(result.diff.requiredBump).toEqual({
      bump: "major",
      reasons: ["required path 'user.plan' added", "template text changed"],
    });
    expect(result.diff.variables.changed).toEqual([
      {
        name: "user",
        from: { name: "user", required: true, type: null, paths: ["user.name"] },
        to: { name: "user", required: true, type: null, paths: ["user.name", "user.plan"] },
      },
    ]);
    expect((await render("nested-plan", "^1", { user: { name: "Ana" } })).body.text).toBe("Name: Ana");
    const missing = await render("nested-plan", "latest", { user: { name: "Ana" } });
    expect(missing.status).toBe(422);
    expect(missing.body.error.details.missing).toEqual(["user.plan"]);
  });

  it("a path dropped is minor", async () => {
    const result = await bump(
      "nested-drop",
      { template: "{{user.name}} {{user.plan}}" },
      { template: "{{user.name}}" },
    );
    expect(result.version).toBe("1.1.0");
    expect(result.diff.requiredBump.reasons).toEqual(["path 'user.plan' no longer required", "template text changed"]);
  });
});

describe("optional variables the template guards itself", () => {
  const base = "Question: {{question}}";
  it.each([
    ["context", "{{#if context}}Context: {{context}}{{/if}}"],
    ["context", "{{^context}}No context available.{{/context}}"],
    ["context", "{{#unless context}}No context.{{else}}Context: {{context}}{{/unless}}"],
    ["documents", "{{#each documents}}- {{this}}\n{{else}}(none){{/each}}"],
    ["user", "{{#with user}}Hello {{name}}{{else}}Hello guest{{/with}}"],
    ["flags", '{{#if (lookup flags "beta")}}Beta.{{/if}}'],
  ])("adding %s through %s is minor, and renders without it", async (variable, guarded) => {
    const name = `guarded-${variable}-${guarded.length}`;
    const result = await bump(name, { template: base }, { template: `${guarded}\n${base}` });
    expect(result.version).toBe("1.1.0");
    expect(result.diff.requiredBump.reasons).toEqual([
      `optional variable '${variable}' added`,
      "template text changed",
    ]);
    const out = await render(name, "latest", { question: "why?" });
    expect(out.status).toBe(200);
    expect(out.body.text).toMatch(/Question: why\?$/);
  });

  it("is required as soon as it is also used outside its guard", async () => {
    const name = "guarded-then-not";
    await publish(name, { template: "{{#if context}}Context: {{context}}{{/if}}" });
    const res = await publish(name, { template: "{{#if context}}Context: {{context}}{{/if}} ({{context}})" });
    expect(res.body.version).toBe("2.0.0");
    expect((await diff(name, "1.0.0", "2.0.0")).body.requiredBump.reasons).toEqual([
      "variable 'context' became required",
      "template text changed",
    ]);
  });
});

describe("variables that were missing from the contract", () => {
  it("refuses a Mustache-style section at publish, suggesting #if / #with", async () => {
    const res = await publish("section", { template: "{{#show_sources}} Cite: {{sources}}{{/show_sources}}" });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("invalid_template");
    expect(res.body.error.message).toMatch(/^\{\{#show_sources\}\}…\{\{\/show_sources\}\} is a Mustache-style section/);
    expect(res.body.error.message).toContain(
      "write {{#if show_sources}}…{{/if}} to test it, {{#with show_sources}}…{{/with}} to enter an object",
    );
    const written = await publish("section", { template: "{{#if show_sources}} Cite: {{sources}}{{/if}}" });
    expect(written.status).toBe(201);
    expect(written.body.variables).toEqual([
      { name: "show_sources", required: false, type: null },
      { name: "sources", required: true, type: null },
    ]);
    const strict = await render("section", "latest", { show_sources: true, sources: "doc-1" }, true);
    expect(strict.body.text).toBe(" Cite: doc-1");
    expect((await render("section", "latest", { show_sources: true }, true)).body.error.details.missing).toEqual([
      "sources",
    ]);
  });

  it("{{log}} is a variable; a name that calls a built-in helper is refused with the way around it", async () => {
    const log = await publish("log-var", { template: "Log: {{log}}" });
    expect(log.body.variables).toEqual([{ name: "log", required: true, type: null }]);
    expect((await render("log-var", "latest", { log: "ok" }, true)).body.text).toBe("Log: ok");
    const collision = await publish("if-var", { template: "Step {{if}}" });
    expect(collision.status).toBe(422);
    expect(collision.body.error.message).toBe(
      '{{if}} calls the built-in helper "if", so it cannot read a variable of that name: write {{this.if}} or rename the variable at line 1, column 6',
    );
    expect((await publish("if-var", { template: "Step {{this.if}}" })).body.variables).toEqual([
      { name: "if", required: true, type: null },
    ]);
  });

  it("derives a key read with lookup, which strictExtras then accepts", async () => {
    const res = await publish("lookup-key", { template: '{{lookup . "user-name"}} asks' });
    expect(res.body.variables).toEqual([{ name: "user-name", required: true, type: null }]);
    expect((await render("lookup-key", "latest", { "user-name": "ana_1" }, true)).body.text).toBe("ana_1 asks");
  });
});

describe("consistency", () => {
  it("#with and a dotted path refuse the same data and accept the same null", async () => {
    await publish("with-form", { template: "{{#with user}}{{name}}{{/with}}" });
    await publish("dot-form", { template: "{{user.name}}" });
    for (const name of ["with-form", "dot-form"]) {
      const empty = await render(name, "latest", { user: {} });
      expect(empty.status, name).toBe(422);
      expect(empty.body.error.details.missing, name).toEqual(["user.name"]);
      expect((await render(name, "latest", { user: null })).body.text, name).toBe("");
      expect((await render(name, "latest", { user: { name: null } })).body.text, name).toBe("");
    }
  });

  it("guesses no type, so using a list differently later is no major bump", async () => {
    const result = await bump(
      "no-guess",
      { template: "{{messages.length}} messages" },
      { template: "{{messages.length}} messages:\n{{#each messages}}- {{this}}\n{{/each}}" },
    );
    expect(result.version).toBe("1.0.1");
    expect(result.diff.requiredBump).toEqual({ bump: "patch", reasons: ["template text changed"] });
  });

  it("compares with a version stored with a guessed type by what that version accepts today", async () => {
    const name = "legacy-guess";
    const v1 = await publish(name, { template: "{{#each attrs}}{{@key}}={{this}};{{/each}} for {{who}}" });
    // As an older release stored it: attrs required and typed from the syntax.
    await h.database.prisma.promptVersion.update({
      where: { id: v1.body.id },
      data: {
        variables: [
          { name: "attrs", required: true, type: "array" },
          { name: "who", required: true, type: null },
        ],
      },
    });
    const v2 = await publish(name, { template: "{{#each attrs}}{{@key}}: {{this}}; {{/each}} for {{who}}" });
    expect(v2.body.version).toBe("1.0.1");
    expect((await render(name, "1.0.0", { attrs: { color: "red" }, who: "Ana" })).body.text).toBe("color=red; for Ana");
  });
});

// The variable contract of realistic templates, checked against Handlebars itself: a variable is required exactly
// when Handlebars' output without it is not what the author wrote for its absence.
import Handlebars from "handlebars";
import { describe, expect, it } from "vitest";
import type { VariableSpec } from "../src/contract.js";
import { RenderError, TemplateError, analyzeTemplate, createRenderer } from "../src/render.js";
import { thrown, version } from "./rendering.js";

// Handlebars 4.7 as the renderer configures it: no HTML escaping, and no `log` helper (it wrote to the console).
const reference = Handlebars.create();
reference.unregisterHelper("log");
const handlebars = (source: string, values: Record<string, unknown>) =>
  reference.compile(source, { noEscape: true, knownHelpers: { log: false } })(values);

const spec = (name: string, required: boolean, paths: string[]): VariableSpec =>
  paths.length ? { name, required, type: null, paths } : { name, required, type: null };
const req = (name: string, ...paths: string[]) => spec(name, true, paths);
const opt = (name: string, ...paths: string[]) => spec(name, false, paths);

interface Case {
  name: string;
  template: string;
  values: Record<string, unknown>;
  contract: VariableSpec[];
}

const cases: Case[] = [
  {
    name: "RAG prompt with optional context",
    template:
      "Answer from the context when there is one.\n{{#if context}}Context:\n{{context}}\n{{/if}}Question: {{question}}",
    values: { context: "Refunds take 5 days.", question: "When is my refund?" },
    contract: [opt("context"), req("question")],
  },
  {
    name: "context used inside its guard and outside it",
    template: "{{#if context}}Context: {{context}}{{/if}} (source: {{context}})",
    values: { context: "doc-1" },
    contract: [req("context")],
  },
  {
    name: "inverse section for the absent case",
    template:
      "{{^context}}No context available.{{/context}}{{#if context}}Context: {{context}}{{/if}}\nQ: {{question}}",
    values: { context: "ctx", question: "q" },
    contract: [opt("context"), req("question")],
  },
  {
    name: "unless with an else that uses it",
    template: "{{#unless context}}No context.{{else}}Context: {{context}}{{/unless}}",
    values: { context: "ctx" },
    contract: [opt("context")],
  },
  {
    name: "each with an else",
    template: "Documents:\n{{#each documents}}- {{title}}: {{body}}\n{{else}}(none)\n{{/each}}",
    values: {
      documents: [
        { title: "Refunds", body: "5 days" },
        { title: "Ünïcode", body: "✓" },
      ],
    },
    contract: [opt("documents")],
  },
  {
    name: "few-shot examples",
    template: "{{#each examples}}Q: {{q}}\nA: {{a}}\n\n{{/each}}Q: {{question}}\nA:",
    values: {
      examples: [
        { q: "2+2", a: "4" },
        { q: "0.1+0.2", a: "0.30000000000000004" },
      ],
      question: "3+3",
    },
    contract: [opt("examples"), req("question")],
  },
  {
    name: "with and an else, like the nested path",
    template: "{{#with user}}Hello {{name}}{{else}}Hello guest{{/with}}",
    values: { user: { name: "Ana" } },
    contract: [opt("user", "user.name")],
  },
  {
    name: "with without an else, reading the outer context too",
    template: "{{#with order}}Order {{id}} ({{status}}) for {{../customer}}{{/with}}",
    values: { order: { id: "A-1", status: "shipped" }, customer: "Bob" },
    contract: [req("customer"), opt("order", "order.id", "order.status")],
  },
  {
    name: "with and a block param",
    template: "{{#with user as |u|}}{{u.name}} <{{u.email}}>{{/with}}",
    values: { user: { name: "Ana", email: "ana@example.com" } },
    contract: [opt("user", "user.email", "user.name")],
  },
  {
    name: "each with block params",
    template: "{{#each items as |item i|}}{{i}}. {{item.name}} x{{item.qty}}\n{{/each}}Total: {{total}}",
    values: { items: [{ name: "Tea", qty: 2 }], total: 12.5 },
    contract: [opt("items"), req("total")],
  },
  {
    name: "condition through a lookup sub-expression",
    template: '{{#if (lookup flags "beta")}}Beta features are on. {{/if}}Hi {{name}}',
    values: { flags: { beta: true }, name: "Ana" },
    contract: [opt("flags"), req("name")],
  },
  {
    name: "with over a lookup",
    template: '{{#with (lookup users "ana")}}Mail {{email}}{{/with}}',
    values: { users: { ana: { email: "ana@example.com" } } },
    contract: [opt("users", "users.ana.email")],
  },
  {
    name: "lookup of a key that is no identifier",
    template: '{{lookup . "user-name"}} wrote {{lookup post "first-line"}}',
    values: { "user-name": "ana_1", post: { "first-line": "Hi" } },
    contract: [req("post", "post.first-line"), req("user-name")],
  },
  {
    name: "a variable named like the helper that is gone",
    template: "Log:\n{{log}}",
    values: { log: "line 1\nline 2" },
    contract: [req("log")],
  },
  {
    name: "a variable named like a built-in, read through this",
    template: "Step: {{this.if}}",
    values: { if: "check the order" },
    contract: [req("if")],
  },
  {
    name: "nested paths",
    template: "Name: {{user.name}}, plan {{user.plan}}",
    values: { user: { name: "Ana", plan: "pro" } },
    contract: [req("user", "user.name", "user.plan")],
  },
  {
    name: "a nested condition and a nested value",
    template: "{{#if user.vip}}VIP {{/if}}{{user.name}}",
    values: { user: { name: "Ana", vip: true } },
    contract: [req("user", "user.name")],
  },
  {
    name: "a guard on the parent",
    template: "{{#if user}}Signed in as {{user.name}}{{/if}}",
    values: { user: { name: "Ana" } },
    contract: [opt("user", "user.name")],
  },
  {
    name: "a guard on a nested path",
    template: "{{#if context.text}}{{context.text}} ({{context.source}}){{/if}}",
    values: { context: { text: "t", source: "s" } },
    contract: [opt("context", "context.source")],
  },
  {
    name: "length of a list, untyped",
    template: "{{messages.length}} messages so far",
    values: { messages: ["a", "b"] },
    contract: [req("messages", "messages.length")],
  },
  {
    name: "each over an object, untyped",
    template: "{{#each attrs}}{{@key}}={{this}};{{/each}}",
    values: { attrs: { color: "red", size: 42 } },
    contract: [opt("attrs")],
  },
  {
    name: "@root inside a loop",
    template: "{{@root.lang}}: {{#each docs}}{{@root.prefix}}{{this}} {{/each}}",
    values: { lang: "en", docs: ["a", "b"], prefix: "#" },
    contract: [opt("docs"), req("lang"), req("prefix")],
  },
  {
    name: "nested guards",
    template: "{{#if a}}{{#if b}}{{a}} and {{b}}{{/if}}{{/if}}",
    values: { a: "x", b: "y" },
    contract: [opt("a"), opt("b")],
  },
  {
    name: "else-if chain",
    template: "{{#if premium}}Premium{{else if trial}}Trial{{else}}Free{{/if}} plan for {{name}}",
    values: { premium: false, trial: true, name: "Ana" },
    contract: [req("name"), opt("premium"), opt("trial")],
  },
  {
    name: "each over a lookup",
    template: '{{#each (lookup groups "admins")}}{{this}},{{/each}}',
    values: { groups: { admins: ["ana", "bob"] } },
    contract: [opt("groups")],
  },
  {
    name: "unless guarding another variable",
    template: "Thanks.{{#unless hide_footer}}\n-- {{signature}}{{/unless}}",
    values: { hide_footer: false, signature: "Support" },
    contract: [opt("hide_footer"), req("signature")],
  },
  {
    name: "inverted with",
    template: "{{^with user}}Signed out. {{/with}}Hi {{name}}",
    values: { user: { id: 7 }, name: "Ana" },
    contract: [req("name"), opt("user")],
  },
  {
    name: "with this inside a loop, which enters no new context",
    template: "{{#each items}}{{#with this}}{{../title}}: {{name}}{{/with}} {{/each}}",
    values: { items: [{ name: "a" }, { name: "b" }], title: "T" },
    contract: [opt("items"), req("title")],
  },
  {
    name: "unicode values",
    template: "«{{greeting}}» {{name}}",
    values: { greeting: "¡Hola!", name: "Zoë 🚀" },
    contract: [req("greeting"), req("name")],
  },
];

function without(values: Record<string, unknown>, printed: string): Record<string, unknown> | undefined {
  const copy = structuredClone(values);
  const parts = printed.split(".");
  let parent: unknown = copy;
  for (const part of parts.slice(0, -1)) parent = (parent as Record<string, unknown>)[part];
  // An array's length cannot be taken away.
  return Reflect.deleteProperty(parent as object, parts[parts.length - 1]) ? copy : undefined;
}

describe.each(cases)("$name", ({ template, values, contract }) => {
  const renderer = createRenderer();
  const text = (v: Record<string, unknown>) => (renderer.render(version(template), v) as { text: string }).text;

  it("derives the contract", () => {
    expect(analyzeTemplate(template)).toEqual(contract);
    expect(analyzeTemplate(template, null, { publishing: true })).toEqual(contract);
  });

  it("renders every value as Handlebars does", () => {
    expect(text(values)).toBe(handlebars(template, values));
  });

  it("omitting a variable: optional renders as Handlebars does, required is refused and would break the output", () => {
    for (const variable of contract) {
      const rest = { ...values };
      delete rest[variable.name];
      if (variable.required) {
        const err = thrown(() => text(rest));
        expect(err, variable.name).toBeInstanceOf(RenderError);
        expect((err as RenderError).details.missing, variable.name).toEqual([variable.name]);
        expect(handlebars(template, rest), variable.name).not.toBe(handlebars(template, values));
      } else {
        expect(() => text(rest), variable.name).not.toThrow();
        expect(text(rest), variable.name).toBe(handlebars(template, rest));
      }
    }
  });

  it("omitting a required path is refused, naming it, and would break the output", () => {
    for (const path of contract.flatMap((v) => v.paths ?? [])) {
      const rest = without(values, path);
      if (!rest) continue;
      expect((thrown(() => text(rest)) as RenderError).details.missing, path).toEqual([path]);
      expect(handlebars(template, rest), path).not.toBe(handlebars(template, values));
    }
  });

  it("null is a given value, rendered empty with everything below it, as Handlebars does", () => {
    for (const variable of contract) {
      const nulled = { ...values, [variable.name]: null };
      expect(text(nulled), variable.name).toBe(handlebars(template, nulled));
    }
  });
});

describe("consistency", () => {
  it("#with and a dotted path refuse the same data, and accept the same null", () => {
    const r = createRenderer();
    for (const template of ["{{#with user}}{{name}}{{/with}}", "{{user.name}}"]) {
      expect(
        (thrown(() => r.render(version(template), { user: {} })) as RenderError).details.missing,
        template,
      ).toEqual(["user.name"]);
      expect(r.render(version(template), { user: null }), template).toEqual({ text: "" });
      expect(r.render(version(template), { user: { name: null } }), template).toEqual({ text: "" });
    }
  });

  it("accepts under strictExtras every variable the template reads", () => {
    const r = createRenderer();
    const template = '{{lookup . "user-name"}} {{log}}{{#if context}} {{context}}{{/if}}';
    expect(r.render(version(template), { "user-name": "a", log: "b", context: "c" }, { strictExtras: true })).toEqual({
      text: "a b c",
    });
  });

  it("derives a chat template's messages together, a placeholder typed as messages", () => {
    expect(
      analyzeTemplate([
        { role: "system", content: "You are {{persona}}.{{#if style}} Be {{style}}.{{/if}}" },
        { type: "placeholder", name: "history" },
        { role: "user", content: "{{question}}" },
      ]),
    ).toEqual([{ name: "history", required: true, type: "messages" }, req("persona"), req("question"), opt("style")]);
  });
});

describe("refused at publish", () => {
  it("a Mustache-style section, saying what to write instead; rendering one published before still works", () => {
    const template = "{{#show_sources}} Cite: {{sources}}{{/show_sources}}";
    const err = thrown(() => analyzeTemplate(template, null, { publishing: true }));
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toBe(
      "{{#show_sources}}…{{/show_sources}} is a Mustache-style section, which reads the outer variables or those inside show_sources " +
        "depending on its value: write {{#if show_sources}}…{{/if}} to test it, {{#with show_sources}}…{{/with}} to enter an object " +
        "or {{#each show_sources}}…{{/each}} to loop over a list at line 1, column 1",
    );
    expect(() => analyzeTemplate("{{^items}}none{{else}}{{name}}{{/items}}", null, { publishing: true })).toThrow(
      /Mustache-style section/,
    );
    expect(analyzeTemplate(template)).toEqual([opt("show_sources")]);
    const values = { show_sources: { sources: "inside" } };
    expect(createRenderer().render(version(template), values)).toEqual({ text: handlebars(template, values) });
  });

  it("a bare built-in helper name, pointing to this.name", () => {
    for (const name of ["if", "unless", "each", "with", "lookup", "helperMissing", "blockHelperMissing"]) {
      expect(() => analyzeTemplate(`Hi {{${name}}}`, null, { publishing: true })).toThrow(
        `{{${name}}} calls the built-in helper "${name}", so it cannot read a variable of that name: write {{this.${name}}} or rename the variable at line 1, column 4`,
      );
    }
  });

  it("block helpers called inline, which Handlebars cannot render", () => {
    for (const [source, message] of [
      ["{{if a}}", "if only works as a block"],
      ["{{#if (unless a)}}x{{/if}}", "unless only works as a block"],
      ["{{each items}}", "each only works as a block"],
      ["{{log msg}}", 'unknown helper "log"'],
    ]) {
      expect(() => analyzeTemplate(source)).toThrow(message);
      expect(() => handlebars(source, { a: 1, items: [1], msg: "m" })).toThrow();
    }
  });
});

// The OpenAI SDK in an ESM application: each call linked to the prompt version it used, its span sent to the
// registry, then the registry's comparison of the two versions printed.
//   PROMPTREG_API_KEY=$(cat .promptreg/admin-key) OPENAI_API_KEY=sk-... node examples/openai-esm/main.mjs "Where is my order?"
import { OpenAIInstrumentation } from "@arizeai/openinference-instrumentation-openai";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { createClient, createPromptSpanProcessor } from "@promptreg/client";
import OpenAI from "openai";

const REGISTRY = process.env.PROMPTREG_URL ?? "http://127.0.0.1:4000";
const KEY = process.env.PROMPTREG_API_KEY; // a write key; the first run sets `production` (protected): admin
const MODEL = process.env.OPENAI_MODEL ?? "gpt-4o-mini";
const NAME = "examples/openai-esm";
const questions = process.argv.length > 2 ? process.argv.slice(2) : ["Where is my order?"];
if (!KEY) throw new Error("set PROMPTREG_API_KEY");

// The span processor copies the prompt link onto spans started inside prompt.trace(), and ends a failed call's
// span (the instrumentation leaves it open, and an open span is never exported).
const provider = new NodeTracerProvider({
  spanProcessors: [
    createPromptSpanProcessor(),
    new BatchSpanProcessor(
      new OTLPTraceExporter({ url: `${REGISTRY}/v1/traces`, headers: { Authorization: `Bearer ${KEY}` } }),
    ),
  ],
});
provider.register(); // the global provider, and the context manager that carries the link into the call

// registerInstrumentations({ instrumentations: [new OpenAIInstrumentation()] }) makes no span here, and says
// nothing: it patches `openai` when it is loaded through require(), or through an ESM loader hook registered
// before the import. This file is ESM, and its `import OpenAI` ran before any line of it. So patch the class itself:
new OpenAIInstrumentation().manuallyInstrument(OpenAI);
const openai = new OpenAI(); // reads OPENAI_API_KEY and OPENAI_BASE_URL (default: api.openai.com)

const path = `/api/v1/prompts/${encodeURIComponent(NAME)}`;
const headers = { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" };
async function api(method, url, body) {
  const res = await fetch(REGISTRY + url, { method, headers, body: body && JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}
// First run only: two versions to compare, 1.0.0 as production and a reworded 1.0.1, which `latest` follows.
if ((await fetch(REGISTRY + path, { method: "HEAD", headers })).status === 404) {
  const template = (system) => [
    { role: "system", content: `You are the support assistant of {{company}}. ${system}` },
    { role: "user", content: "{{question}}" },
  ];
  await api("POST", `${path}/versions`, { template: template("Answer in one sentence."), labels: ["production"] });
  await api("POST", `${path}/versions`, { template: template("Answer in one warm sentence.") });
}

// Each question to both versions, so that compare sees the same traffic on each (an application would rather
// send a share of its traffic to the new version).
const registry = createClient({ baseUrl: REGISTRY, apiKey: KEY });
const prompts = [await registry.get(NAME), await registry.get(NAME, { label: "latest" })];
for (const question of questions)
  for (const prompt of prompts) {
    const messages = prompt.renderMessages({ company: "Acme", question });
    try {
      // trace() is withPrompt(prompt.link(), fn): the call's span is linked to this version.
      const completion = await prompt.trace(() => openai.chat.completions.create({ model: MODEL, messages }));
      console.log(`${prompt.label} ${prompt.version} answered: ${completion.choices[0]?.message.content}`);
    } catch (err) {
      // Caught outside trace(): caught inside, a failure would look like a success.
      console.log(`${prompt.label} ${prompt.version} failed: ${err.message}`);
    }
  }

// Send the spans still batched (a refused export, e.g. with a read-only key, rejects here); the registry has
// stored them when it answers, so compare sees them.
await provider.shutdown();
const compared = await api("GET", `${path}/compare?versions=production,latest`);
for (const v of compared.versions) {
  const cost = v.costUsd.count ? `$${v.costUsd.sum}` : "unknown (the model has no price: POST /api/v1/prices)";
  console.log(
    `${v.version}: ${v.units} call${v.units === 1 ? "" : "s"}, ${v.failures} failed, ${v.tokens.total.sum} tokens, cost ${cost}`,
  );
}
console.log(compared.comparisons[0].explanation);

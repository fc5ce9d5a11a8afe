// The Anthropic SDK in an ESM application, as examples/openai-esm does it for OpenAI: each call linked to the prompt
// version it used, its spans sent to the registry, then the registry's comparison of the two versions printed.
//   PROMPTREG_API_KEY=$(cat .promptreg/admin-key) ANTHROPIC_API_KEY=sk-ant-... node examples/anthropic/main.mjs "Where is my order?"
import Anthropic from "@anthropic-ai/sdk";
import { AnthropicInstrumentation } from "@arizeai/openinference-instrumentation-anthropic";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { createClient, createPromptSpanProcessor } from "@promptreg/client";

const REGISTRY = process.env.PROMPTREG_URL ?? "http://127.0.0.1:4000";
const KEY = process.env.PROMPTREG_API_KEY; // a write key; the first run sets `production` (protected): admin
const MODEL = process.env.ANTHROPIC_MODEL ?? "claude-haiku-4-5";
const NAME = "examples/anthropic";
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

// ESM: registerInstrumentations() alone would patch nothing (see examples/openai-esm), so patch the class itself.
// The SDK (1.x) also traces each call itself once a provider is registered: an `anthropic.messages.create` span
// inside the instrumentation's `Anthropic Messages` span. The registry counts the two as one call, the outer one.
new AnthropicInstrumentation().manuallyInstrument(Anthropic);
const anthropic = new Anthropic(); // reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL (default: api.anthropic.com)

const path = `/api/v1/prompts/${encodeURIComponent(NAME)}`;
const headers = { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" };
async function api(method, url, body) {
  const res = await fetch(REGISTRY + url, { method, headers, body: body && JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return res.json();
}
// First run only: two versions to compare, 1.0.0 as production and a reworded 1.0.1, which `latest` follows.
// A text prompt: renderText() gives the string, sent as the user's message.
if ((await fetch(REGISTRY + path, { method: "HEAD", headers })).status === 404) {
  const template = (style) => `You are the support assistant of {{company}}. ${style}\n\n{{question}}`;
  await api("POST", `${path}/versions`, { template: template("Answer in one sentence."), labels: ["production"] });
  await api("POST", `${path}/versions`, { template: template("Answer in one warm sentence.") });
}

// Each question to both versions, so that compare sees the same traffic on each (an application would rather
// send a share of its traffic to the new version).
const registry = createClient({ baseUrl: REGISTRY, apiKey: KEY });
const prompts = [await registry.get(NAME), await registry.get(NAME, { label: "latest" })];
for (const question of questions)
  for (const prompt of prompts) {
    const text = prompt.renderText({ company: "Acme", question });
    try {
      const message = await prompt.trace(() =>
        anthropic.messages.create({ model: MODEL, max_tokens: 200, messages: [{ role: "user", content: text }] }),
      );
      console.log(`${prompt.label} ${prompt.version} answered: ${message.content[0]?.text}`);
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

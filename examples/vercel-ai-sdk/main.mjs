// The Vercel AI SDK, as examples/openai-esm does it with the OpenAI SDK: each call linked to the prompt version it
// used, its spans sent to the registry, then the registry's comparison of the two versions printed.
//   PROMPTREG_API_KEY=$(cat .promptreg/admin-key) OPENAI_API_KEY=sk-... node examples/vercel-ai-sdk/main.mjs "Where is my order?"
import { openai } from "@ai-sdk/openai";
import { OpenInferenceBatchSpanProcessor } from "@arizeai/openinference-vercel";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { createClient, createPromptSpanProcessor } from "@promptreg/client";
import { generateText } from "ai";

const REGISTRY = process.env.PROMPTREG_URL ?? "http://127.0.0.1:4000";
const KEY = process.env.PROMPTREG_API_KEY; // a write key; the first run sets `production` (protected): admin
const MODEL = process.env.OPENAI_MODEL ?? "gpt-4o-mini";
const NAME = "examples/vercel-ai-sdk";
const questions = process.argv.length > 2 ? process.argv.slice(2) : ["Where is my order?"];
if (!KEY) throw new Error("set PROMPTREG_API_KEY");

// The AI SDK traces itself (experimental_telemetry below) through the global provider: there is no instrumentation
// to load, and so none of the ESM trouble of patching a module (see examples/openai-esm). Its spans carry `ai.*`
// attributes; OpenInference's processor adds the OpenInference ones before export (the registry reads either; other
// OpenInference tools need theirs). Ours copies the prompt link onto the spans started inside prompt.trace().
const provider = new NodeTracerProvider({
  spanProcessors: [
    createPromptSpanProcessor(),
    new OpenInferenceBatchSpanProcessor({
      exporter: new OTLPTraceExporter({ url: `${REGISTRY}/v1/traces`, headers: { Authorization: `Bearer ${KEY}` } }),
    }),
  ],
});
provider.register(); // the global provider, and the context manager that carries the link into the call

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
      // openai.chat(): the Chat Completions API, which every OpenAI-compatible server speaks (openai() would be the
      // Responses API); it reads OPENAI_API_KEY and OPENAI_BASE_URL (default: api.openai.com). The system message
      // is the registry's template, not user input: allowed, without the SDK's warning.
      const { text } = await prompt.trace(() =>
        generateText({
          model: openai.chat(MODEL),
          messages,
          allowSystemInMessages: true,
          experimental_telemetry: { isEnabled: true },
        }),
      );
      console.log(`${prompt.label} ${prompt.version} answered: ${text}`);
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

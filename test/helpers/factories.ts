// Factories for the setup many test files share: a project with its keys, a prompt published with versions and
// labels, and LLM spans of a known outcome sent through the real OTLP receiver. Each goes through the API as a user
// would and checks the answer, naming it when it is not the expected one, so that a test fails at its cause. Tests
// of the publish, label or receiver routes themselves keep their own requests: there the request is the subject.
import type { PromptVersion, PublishVersionBody } from "@promptreg/client/contract";
import request from "supertest";
import { expect } from "vitest";
import { type Client, enc, type Harness } from "./harness.js";
import { otlpJson, type SpanSpec } from "./otlp.js";

/** A version to publish: its template alone, or a whole publish body. */
export type VersionInput = string | PublishVersionBody;

/** `POST /api/v1/prompts/:name/versions`: publishes one version of `name` (the first creates the prompt); 201. */
export async function publishVersion(as: Client, name: string, input: VersionInput): Promise<PromptVersion> {
  const body = typeof input === "string" ? { template: input } : input;
  const res = await as.post(`/api/v1/prompts/${enc(name)}/versions`, body);
  expect(res.status, `publish ${name}: ${JSON.stringify(res.body)}`).toBe(201);
  return res.body as PromptVersion;
}

/**
 * A prompt with `versions` published in order, then each of `labels` moved to the version it names (`{ production:
 * "1.0.0" }`). Returns the version numbers published.
 */
export async function publishPrompt(
  as: Client,
  name: string,
  versions: VersionInput[],
  labels: Record<string, string> = {},
): Promise<string[]> {
  const published: string[] = [];
  for (const input of versions) published.push((await publishVersion(as, name, input)).version);
  for (const [label, version] of Object.entries(labels)) await moveLabel(as, name, label, version);
  return published;
}

/** `PUT /api/v1/prompts/:name/labels/:label`: points `label` at `version`; 200. */
export async function moveLabel(as: Client, name: string, label: string, version: string, reason?: string) {
  const res = await as.put(`/api/v1/prompts/${enc(name)}/labels/${label}`, { version, reason });
  expect(res.status, `move ${label} of ${name} to ${version}: ${JSON.stringify(res.body)}`).toBe(200);
}

export interface TestProject {
  name: string;
  adminKey: string;
  /** Requests with the project's admin key. */
  admin: Client;
}

/** `POST /api/v1/projects` with the default project's admin key: a new project and its admin key; 201. */
export async function createProject(h: Harness, name: string): Promise<TestProject> {
  const res = await h.as(h.adminKey).post("/api/v1/projects", { name });
  expect(res.status, `create project ${name}: ${JSON.stringify(res.body)}`).toBe(201);
  const adminKey = res.body.adminKey.key as string;
  return { name, adminKey, admin: h.as(adminKey) };
}

/**
 * An LLM span linked to `prompt`@`version` by the OpenInference attributes instrumentations set; `spec` gives the
 * rest (ids, times, status) and `spec.attributes` adds to or overrides the link's.
 */
export function llmSpan(prompt: string, version: string, spec: SpanSpec): SpanSpec {
  return {
    ...spec,
    attributes: {
      "openinference.span.kind": "LLM",
      "prompt.id": prompt,
      "llm.prompt_template.version": version,
      ...spec.attributes,
    },
  };
}

/** Sends `spans` to the app's OTLP receiver as JSON, 1,000 a request; every request answers 200 rejecting none. */
export async function ingestSpans(h: Harness, spans: SpanSpec[], key = h.adminKey): Promise<void> {
  for (let i = 0; i < spans.length; i += 1000) {
    const res = await request(h.app)
      .post("/v1/traces")
      .set("Authorization", `Bearer ${key}`)
      .set("Content-Type", "application/json")
      .send(otlpJson(spans.slice(i, i + 1000)));
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess ?? {}).toEqual({});
  }
}

/**
 * What an experiment needs, as the experiment and gate tests set it up: connection `model` to the fake model at
 * `modelUrl`, the check `no-bad` (the answer does not contain "BAD") and dataset `golden` with `items`.
 */
export async function seedExperimentProject(
  as: Client,
  modelUrl: string,
  items: { id: string; variables: Record<string, unknown>; expected?: unknown }[],
): Promise<void> {
  await as.post("/api/v1/connections", { name: "model", baseUrl: modelUrl, model: "m", timeoutMs: 10_000 }).expect(201);
  await as
    .post("/api/v1/evaluators", { name: "no-bad", kind: "not_contains", sampleRate: 1, config: { values: ["BAD"] } })
    .expect(201);
  await as.post("/api/v1/datasets", { name: "golden" }).expect(201);
  await as.post("/api/v1/datasets/golden/items", { items }).expect(200);
}

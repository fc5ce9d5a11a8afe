// The AI SDK 7 packages, imported here so that they resolve from this package's node_modules (see package.json).
export { createOpenAI } from "@ai-sdk/openai";
export { OpenTelemetry } from "@ai-sdk/otel";
export { OpenInferenceSimpleSpanProcessor } from "@arizeai/openinference-vercel";
export { generateText, registerTelemetry, streamText } from "ai";

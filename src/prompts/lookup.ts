// Read helpers shared by the prompt and label modules. Every read is scoped by project: another project's prompt
// is simply not found (404), never forbidden, so its existence does not leak.
import type { Tx } from "../db/client.js";
import type { ReadDb } from "../db/writes.js";
import { notFound } from "../http/errors.js";

export async function findPrompt(db: ReadDb, projectId: string, name: string) {
  const prompt = await db.prompt.findUnique({ where: { projectId_name: { projectId, name } } });
  if (!prompt) throw notFound(`prompt '${name}'`);
  return prompt;
}

/** Serializes every write to one prompt (publishes and label moves) behind its row lock. */
export async function lockPrompt(tx: Tx, promptId: string): Promise<void> {
  await tx.$queryRaw`SELECT id FROM prompts WHERE id = ${promptId}::uuid FOR UPDATE`;
}

export async function findVersion(db: ReadDb, promptId: string, promptName: string, version: string) {
  const row = await db.promptVersion.findUnique({ where: { promptId_version: { promptId, version } } });
  if (!row) throw notFound(`version ${version} of prompt '${promptName}'`);
  return row;
}

/** Options for interactive transactions: waits for the prompt's row lock rather than failing under contention. */
export const TX_OPTIONS = { maxWait: 30_000, timeout: 30_000 } as const;

// Prompts and their versions: the only module that writes the prompts and prompt_versions tables. Assembled from
// one module per concern: records (crud.ts), folders (folders.ts), publishing (publish.ts) and resolving with its
// cache (resolve.ts). Every write goes through the bus (see db/writes.ts).
import type { Principal } from "../auth/principal.js";
import type { Database } from "../db/client.js";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { createPromptCrud } from "./crud.js";
import { listFolders } from "./folders.js";
import type { GatesService } from "../gates/gates.service.js";
import { createPublisher } from "./publish.js";
import { createResolver } from "./resolve.js";

export type { PublishOutcome } from "./publish.js";
export type { ResolvedBody } from "./resolve.js";

export type PromptsService = ReturnType<typeof createPromptsService>;

export function createPromptsService({
  db,
  database,
  bus,
  cacheSize,
  gates,
}: {
  db: ReadDb;
  /** For the folder listing, a statement over many rows (src/db/README.md). */
  database: Database;
  bus: InvalidationBus;
  cacheSize: number;
  /** Publishing with labels moves them through their gates. */
  gates: Pick<GatesService, "enforce">;
}) {
  return {
    ...createPromptCrud({ db, bus }),
    folders: (p: Principal, prefix?: string) => listFolders(database, p, prefix),
    publish: createPublisher({ bus, gates }),
    ...createResolver({ db, bus, cacheSize }),
  };
}

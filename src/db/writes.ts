// How services write, and what a write tells the rest of the system once it has committed.
//
// Services that own cached or watched tables (prompts, versions, labels, keys, projects, sessions) are given a
// `ReadDb`, which has no method that writes, and the bus (invalidation.ts), whose `write` is the only way they get a
// transaction. Inside it a write records each `Change` it makes (the helpers that do a kind of write record it
// themselves, as setLabelInTx does for every label move); after the commit the bus announces them: the caches of
// every instance drop what the change touches (`topicOf`), then the after-commit hook (`bus.onChange`) hears the
// change itself. A rolled-back transaction (an error, a dry run) announces nothing.
import { z } from "zod";
import type { Prisma } from "../generated/prisma/client.js";
import type { Db, Tx } from "./client.js";
import type { Topic } from "./invalidation.js";

const Id = z.string().min(1);
const promptChange = <K extends string>(kind: K) => z.object({ kind: z.literal(kind), projectId: Id, name: Id });

/**
 * What a committed write changed: enough for a listener to act without reading the database (a live-update stream
 * shows "production of support/triage moved 1.2.0 → 1.3.0"; a webhook posts it). Sent between instances as JSON,
 * hence the schema: an instance reads only what it knows (see invalidation.ts).
 */
export const ChangeSchema = z.discriminatedUnion("kind", [
  promptChange("prompt.created"),
  /** Its description or tags. */
  promptChange("prompt.updated"),
  /** With its versions, labels and ledger. */
  promptChange("prompt.deleted"),
  promptChange("version.published").extend({ version: Id }),
  /** One ledger entry: a label set, rolled back (toVersion the version it now holds) or deleted (toVersion null). */
  promptChange("label.moved").extend({
    label: Id,
    action: z.enum(["set", "rollback", "delete", "rollout_finished"]),
    fromVersion: Id.nullable(),
    toVersion: Id.nullable(),
  }),
  /**
   * A guarded rollout of the label changed state (one ledger entry): `step` and `share` as they are now (share 0 once
   * aborted, 1 once finished; a finish also records the label's move).
   */
  promptChange("rollout.changed").extend({
    label: Id,
    rolloutId: Id,
    action: z.enum(["started", "advanced", "paused", "resumed", "aborted", "finished"]),
    step: z.number().int(),
    share: z.number(),
  }),
  z.object({ kind: z.literal("key.created"), projectId: Id, keyId: Id }),
  /** With its sessions. */
  z.object({ kind: z.literal("key.deleted"), projectId: Id, keyId: Id }),
  z.object({ kind: z.literal("project.created"), projectId: Id }),
  /** Its protected labels. */
  z.object({ kind: z.literal("project.updated"), projectId: Id }),
  /** An evaluator created, changed (a new revision, or turned on or off) or deleted with its results. */
  z.object({
    kind: z.literal("evaluator.changed"),
    projectId: Id,
    name: Id,
    action: z.enum(["created", "updated", "deleted"]),
    revision: z.number().int(),
    enabled: z.boolean(),
  }),
  /** A dataset created or deleted, or its items changed (a new version). */
  z.object({
    kind: z.literal("dataset.changed"),
    projectId: Id,
    name: Id,
    action: z.enum(["created", "updated", "deleted"]),
    version: z.number().int(),
  }),
]);
export type Change = z.infer<typeof ChangeSchema>;

/**
 * The cache topic a change touches, or undefined when no cache can hold what it changed. Every kind must be
 * decided here (the switch is exhaustive), so a new kind of change cannot be left out of invalidation.
 */
export function topicOf(change: Change): Topic | undefined {
  switch (change.kind) {
    case "prompt.created":
    case "prompt.updated":
    case "prompt.deleted":
    case "version.published":
    case "label.moved":
    // The resolve answer of a label under a rollout carries its step and share.
    case "rollout.changed":
      return { kind: "prompt", projectId: change.projectId, name: change.name };
    case "key.deleted":
      return { kind: "key", keyId: change.keyId };
    case "project.updated":
      return { kind: "project", projectId: change.projectId };
    // A key or project that did not exist was never cached: an unknown key is looked up again on every request.
    case "key.created":
    case "project.created":
    // No cache holds evaluators (the workers read them from the database) or datasets.
    case "evaluator.changed":
    case "dataset.changed":
      return undefined;
  }
}

/** A write in progress: its transaction, and where it records what it changed. */
export interface Write {
  tx: Tx;
  /** Announced after the commit, in the order recorded; dropped if the transaction rolls back. */
  record(change: Change): void;
}

export interface WriteOptions {
  /** How long to wait for a connection, and for the transaction to finish (Prisma's defaults: 2 s and 5 s). */
  maxWait?: number;
  timeout?: number;
}

type ReadMethod =
  | "findUnique"
  | "findUniqueOrThrow"
  | "findFirst"
  | "findFirstOrThrow"
  | "findMany"
  | "count"
  | "aggregate"
  | "groupBy";
type Delegate = Uncapitalize<Prisma.ModelName>;

/**
 * The database as services read it: every table's read methods and `$queryRaw` (for SELECTs), nothing that writes.
 * A PrismaClient and a transaction are both one; writes go through `bus.write`.
 */
export type ReadDb = { [D in Delegate]: Pick<Db[D], Extract<keyof Db[D], ReadMethod>> } & Pick<Db, "$queryRaw">;

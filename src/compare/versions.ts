// Which versions a comparison covers, the baseline first. Listed references resolve as every other read resolves
// them (an exact version, a label such as production or latest, a range, label@time); without a list, what
// production held before its last move against what it holds now.
import { PRODUCTION_LABEL } from "@promptreg/client/contract";
import type { Principal } from "../auth/principal.js";
import type { Db } from "../db/client.js";
import { AppError, notFound } from "../http/errors.js";
import { lastLabelMove } from "../labels/labels.service.js";
import { findPrompt } from "../prompts/lookup.js";
import type { PromptsService } from "../prompts/prompts.service.js";
import { parseRef } from "../prompts/refs.js";

export interface VersionPick {
  prompt: { id: string; name: string };
  /** Distinct versions, the baseline first. */
  versions: { version: string; id: string }[];
  /** Every reference as given, with the version it resolved to. */
  refs: { ref: string; version: string }[];
}

export interface VersionPickDeps {
  db: Db;
  prompts: Pick<PromptsService, "resolve">;
}

const REF_FORMS = "a version (1.4.2), a label (production, latest), a range (^1.4) or label@time";

export async function pickVersions(
  { db, prompts }: VersionPickDeps,
  p: Principal,
  name: string,
  listed: string[] | undefined,
  atLeast: number,
): Promise<VersionPick> {
  const prompt = await findPrompt(db, p.projectId, name);
  let picked: { ref: string; version: string; id: string }[];
  if (listed) {
    // Syntax first, so a bad reference is a 422 about the query even when another one is unknown.
    for (const ref of listed) {
      try {
        parseRef(ref);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        throw new AppError(err.code, err.message, {
          issues: [{ path: "query.versions", message: `expected ${REF_FORMS}` }],
        });
      }
    }
    const resolved = await Promise.all(listed.map((ref) => prompts.resolve(p, name, ref)));
    picked = listed.map((ref, i) => ({ ref, version: resolved[i]!.version.version, id: resolved[i]!.version.id }));
  } else {
    const last = await lastLabelMove(db, prompt.id, PRODUCTION_LABEL);
    if (!last?.fromVersion || !last.toVersion)
      throw new AppError(
        "validation_error",
        `'${PRODUCTION_LABEL}' of prompt '${name}' has not moved between two versions yet: pass versions=A,B`,
        {
          issues: [
            { path: "query.versions", message: "needed: the label ledger has no earlier version to compare with" },
          ],
        },
      );
    const wanted = [last.fromVersion, last.toVersion];
    const rows = await db.promptVersion.findMany({
      where: { promptId: prompt.id, version: { in: wanted } },
      select: { id: true, version: true },
    });
    const byVersion = new Map(rows.map((r) => [r.version, r.id]));
    const missing = wanted.filter((v) => !byVersion.has(v));
    if (missing.length) throw notFound(`version ${missing.join(", ")} of prompt '${name}'`);
    picked = [
      {
        ref: `${PRODUCTION_LABEL} before its last move`,
        version: last.fromVersion,
        id: byVersion.get(last.fromVersion)!,
      },
      { ref: PRODUCTION_LABEL, version: last.toVersion, id: byVersion.get(last.toVersion)! },
    ];
  }
  const versions = [...new Map(picked.map((v) => [v.id, { version: v.version, id: v.id }])).values()];
  if (versions.length < atLeast) {
    const resolvedTo = picked.map((v) => (v.ref === v.version ? v.ref : `${v.ref} is ${v.version}`)).join(", ");
    throw new AppError(
      "validation_error",
      `this needs at least ${atLeast} different version${atLeast > 1 ? "s" : ""}${resolvedTo ? ` (${resolvedTo})` : ""}`,
      {
        issues: [
          {
            path: "query.versions",
            message: `list at least ${atLeast} references to different versions, the baseline first`,
          },
        ],
      },
    );
  }
  return {
    prompt: { id: prompt.id, name: prompt.name },
    versions,
    refs: picked.map(({ ref, version }) => ({ ref, version })),
  };
}

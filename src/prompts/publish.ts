// Publishing a version: the only writer of prompt_versions. One transaction under the prompt's row lock picks the
// next version number, moves `latest` and the labels asked for, and creates the prompt on its first publish.
import { randomUUID } from "node:crypto";
import semver from "semver";
import {
  LATEST_LABEL,
  type PromptType,
  type PromptVersion,
  type PublishVersionBody,
  type VariableSpec,
} from "@promptreg/client/contract";
import { TemplateError, analyzeTemplate, checkVariablesSchema } from "@promptreg/client/render";
import type { Principal } from "../auth/principal.js";
import { requireRole } from "../auth/principal.js";
import type { InvalidationBus } from "../db/invalidation.js";
import { AppError } from "../http/errors.js";
import type { GatesService } from "../gates/gates.service.js";
import { checkSettableLabel, heldVersion, requireLabelRole, setLabelInTx } from "../labels/labels.service.js";
import { TX_OPTIONS, findPrompt, lockPrompt } from "./lookup.js";
import { contentHash, contractOf, pickVersion, requiredBump, type RequiredBump } from "./versioning.js";
import { type VersionRow, versionView } from "./views.js";

export interface PublishOutcome {
  created: boolean;
  version: PromptVersion;
  previousVersion: string | null;
  /** What the change needed from the highest version; null when nothing would be created. */
  requiredBump: RequiredBump | null;
}

/** Thrown out of a dry run's transaction so that everything it wrote is rolled back; carries the answer. */
class DryRun {
  constructor(readonly outcome: PublishOutcome) {}
}

export function createPublisher({ bus, gates }: { bus: InvalidationBus; gates: Pick<GatesService, "enforce"> }) {
  /**
   * Publishes a version; `created: false` when the content equals the latest version's (nothing is written).
   * A dry run goes through the very same transaction and rolls it back, so its answer is the publish's own (and,
   * rolled back, it announces nothing).
   */
  return async function publish(
    p: Principal,
    name: string,
    body: PublishVersionBody,
    options: { dryRun?: boolean } = {},
  ): Promise<PublishOutcome> {
    requireRole(p, "write");
    const type: PromptType = typeof body.template === "string" ? "text" : "chat";
    for (const [i, label] of (body.labels ?? []).entries()) {
      checkSettableLabel(label, `body.labels.${i}`);
      requireLabelRole(p, label);
    }
    const config = body.config ?? {};
    const variablesSchema = body.variablesSchema ?? null;
    let variables: VariableSpec[];
    try {
      if (variablesSchema) checkVariablesSchema(variablesSchema);
      variables = analyzeTemplate(body.template, variablesSchema, { publishing: true });
    } catch (err) {
      // The renderer says where, in the message and as details ({line, column, messageIndex}), in one format.
      if (err instanceof TemplateError) throw new AppError("invalid_template", err.message, err.details);
      throw err;
    }
    const hash = contentHash({ type, template: body.template, config, variablesSchema });
    const changed = { projectId: p.projectId, name };

    return bus
      .write(async (w) => {
        const { tx, record } = w;
        // Create-if-missing without a race: concurrent first publishes wait on the unique index, then all lock the row.
        const inserted = await tx.$executeRaw`
          INSERT INTO prompts (id, project_id, name, type, description, tags, updated_at)
          VALUES (${randomUUID()}::uuid, ${p.projectId}::uuid, ${name}, ${type}::"PromptType", ${body.description ?? ""}, ${body.tags ?? []}::text[], now())
          ON CONFLICT (project_id, name) DO NOTHING`;
        if (inserted > 0) record({ kind: "prompt.created", ...changed });
        const prompt = await findPrompt(tx, p.projectId, name);
        await lockPrompt(tx, prompt.id);
        if (prompt.type !== type)
          throw new AppError(
            "validation_error",
            `prompt '${name}' is a ${prompt.type} prompt; this template is ${type}`,
            {
              issues: [
                {
                  path: "body.template",
                  message: `must be ${prompt.type === "text" ? "a string" : "a list of messages"}`,
                },
              ],
            },
          );
        if (body.description !== undefined || body.tags !== undefined) {
          await tx.prompt.update({
            where: { id: prompt.id },
            data: { description: body.description, tags: body.tags },
          });
          if (inserted === 0) record({ kind: "prompt.updated", ...changed });
        }

        const highest = await tx.promptVersion.findFirst({
          where: { promptId: prompt.id },
          orderBy: [{ major: "desc" }, { minor: "desc" }, { patch: "desc" }],
        });
        let row: VersionRow;
        let created: boolean;
        let required: RequiredBump | null = null;
        if (highest && highest.contentHash === hash && body.version === undefined) {
          row = highest;
          created = false;
        } else {
          required = highest
            ? requiredBump(contractOf(versionView(prompt, highest)), {
                template: body.template,
                config,
                variablesSchema,
                variables,
              })
            : { bump: "major" as const, reasons: ["first version"] };
          const version = pickVersion(highest?.version ?? null, required, body);
          const parsed = semver.parse(version)!;
          row = await tx.promptVersion.create({
            data: {
              promptId: prompt.id,
              version,
              major: parsed.major,
              minor: parsed.minor,
              patch: parsed.patch,
              template: body.template as object,
              config: config as object,
              variables: variables as object[],
              variablesSchema: variablesSchema === null ? undefined : (variablesSchema as object),
              commitMessage: body.commitMessage ?? "",
              author: p.keyName,
              contentHash: hash,
            },
          });
          created = true;
          record({ kind: "version.published", ...changed, version });
          await tx.prompt.update({ where: { id: prompt.id }, data: { updatedAt: new Date() } });
          await setLabelInTx(w, {
            promptId: prompt.id,
            ...changed,
            label: LATEST_LABEL,
            version: row,
            actor: p.keyName,
            reason: `published ${version}`,
            action: "set",
          });
        }
        for (const label of body.labels ?? []) {
          const holds = await heldVersion(tx, prompt.id, label);
          if (holds === row.version) continue;
          const gate = await gates.enforce(
            tx,
            p,
            { promptId: prompt.id, prompt: name, label, holds, version: row.version },
            body,
          );
          await setLabelInTx(w, {
            promptId: prompt.id,
            ...changed,
            label,
            version: row,
            actor: p.keyName,
            reason: (gate?.outcome === "overridden" && body.reason) || body.commitMessage || `published ${row.version}`,
            action: "set",
            gate,
          });
        }
        const outcome = {
          created,
          version: versionView(prompt, row),
          previousVersion: highest?.version ?? null,
          requiredBump: required,
        };
        if (options.dryRun) throw new DryRun(outcome);
        return outcome;
      }, TX_OPTIONS)
      .catch((err: unknown) => {
        if (err instanceof DryRun) return err.outcome;
        throw err;
      });
  };
}

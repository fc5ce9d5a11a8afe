// `promptreg keys create` and `promptreg projects create`: through a running server's API with --url, else on the
// database itself.
import { parseArgs } from "node:util";
import { RoleSchema } from "@promptreg/client/contract";
import { createAuthService } from "../auth/auth.service.js";
import { createInvalidationBus } from "../db/invalidation.js";
import { KEY_ON_COMMAND_LINE, remoteApi, UsageError, withDatabase, type CommandContext } from "./common.js";

/** `command` is `keys` or `projects`. */
export async function create(
  command: "keys" | "projects",
  { args, io, config, logger }: CommandContext,
): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: "string" },
      role: { type: "string" },
      project: { type: "string" },
      url: { type: "string" },
      key: { type: "string" },
    },
    strict: true,
  });
  if (values.key !== undefined) throw new UsageError(KEY_ON_COMMAND_LINE);
  if (sub !== "create") throw new UsageError(`unknown command: ${command} ${sub ?? ""}`);
  if (!values.name) throw new UsageError("--name is required");
  const role = RoleSchema.safeParse(values.role);
  if (command === "keys" && !role.success) throw new UsageError("--role must be read, write or admin");
  if (values.url !== undefined) {
    if (values.project !== undefined)
      throw new UsageError(
        "--project does not go with --url: the key is created in the project of the admin key in PROMPTREG_API_KEY",
      );
    const server = remoteApi(values.url, io.env.PROMPTREG_API_KEY, "an admin key");
    const created =
      command === "keys"
        ? await server.post("/keys", { name: values.name, role: role.data })
        : await server.post("/projects", { name: values.name });
    io.out(JSON.stringify(created, null, 2));
    return 0;
  }
  return withDatabase(config, `promptreg ${command} ${sub}`, async (database) => {
    const bus = await createInvalidationBus(database, logger);
    const auth = createAuthService({ db: database.prisma, bus });
    try {
      if (command === "projects") {
        const { project, adminKey } = await auth.createProject(values.name!);
        io.out(JSON.stringify({ project, adminKey }, null, 2));
        return 0;
      }
      const projectName = values.project ?? "default";
      const project = await auth.findProject(projectName);
      if (!project) throw new UsageError(`no project named '${projectName}'`);
      io.out(JSON.stringify(await auth.createKey(project.id, values.name!, role.data!), null, 2));
      return 0;
    } finally {
      await bus.close();
    }
  });
}

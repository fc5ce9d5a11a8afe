// Console sessions: an API key is exchanged once for a random session id that lives only in an HttpOnly cookie, so
// the key never stays in the page. The only module that writes the sessions table.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Request } from "express";
import type { Session } from "@promptreg/client/contract";
import type { InvalidationBus } from "../db/invalidation.js";
import type { ReadDb } from "../db/writes.js";
import { AppError } from "../http/errors.js";
import type { AuthService } from "./auth.service.js";
import { hashKey } from "./keys.js";
import type { Principal } from "./principal.js";

export const SESSION_COOKIE = "promptreg_session";
export const CSRF_HEADER = "x-csrf-token";
/** A working day: the on-call engineer signs in again the next morning, a stolen laptop's session does not last. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** What a session answers: the contract's Session. */
export type SessionView = Session;

export interface OpenedSession {
  token: string;
  expiresAt: Date;
  view: SessionView;
}

export type SessionService = ReturnType<typeof createSessionService>;

/**
 * The CSRF token is derived from the session id: only a page that was given it (by sign-in or GET /session) can
 * send it, a cross-site form cannot read the HttpOnly cookie to compute it, and nothing more needs storing.
 */
export function csrfTokenFor(token: string): string {
  return createHash("sha256").update("promptreg csrf\u0000").update(token).digest("base64url");
}

/** The value of one cookie from a Cookie header; no library needed for reading a single name. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

export function createSessionService({
  db,
  bus,
  auth,
  ttlMs = SESSION_TTL_MS,
}: {
  db: ReadDb;
  bus: InvalidationBus;
  auth: AuthService;
  ttlMs?: number;
}) {
  const view = (principal: Principal, token: string, expiresAt: Date): SessionView => ({
    keyName: principal.keyName,
    role: principal.role,
    projectName: principal.projectName,
    protectedLabels: principal.protectedLabels,
    csrfToken: csrfTokenFor(token),
    expiresAt: expiresAt.toISOString(),
  });

  return {
    /** A new session for a valid key, or null. Expired sessions are swept here, where sessions are created. */
    async open(key: string): Promise<OpenedSession | null> {
      const principal = await auth.authenticate(key);
      if (!principal) return null;
      const token = randomBytes(32).toString("base64url");
      const expiresAt = new Date(Date.now() + ttlMs);
      // No change recorded: nothing caches sessions (each request reads its own), and nobody watches them.
      await bus.write(async ({ tx }) => {
        await tx.session.deleteMany({ where: { expiresAt: { lt: new Date() } } });
        await tx.session.create({ data: { keyId: principal.keyId, hash: hashKey(token), expiresAt } });
      });
      return { token, expiresAt, view: view(principal, token, expiresAt) };
    },

    /** The session behind a cookie value: null when unknown, expired, or its key was deleted (cascade). */
    async find(token: string): Promise<{ principal: Principal; view: SessionView } | null> {
      const row = await db.session.findUnique({
        where: { hash: hashKey(token) },
        include: { key: { include: { project: true } } },
      });
      if (!row || row.expiresAt.getTime() <= Date.now()) return null;
      const principal: Principal = {
        keyId: row.key.id,
        keyName: row.key.name,
        role: row.key.role,
        projectId: row.key.projectId,
        projectName: row.key.project.name,
        protectedLabels: row.key.project.protectedLabels,
      };
      return { principal, view: view(principal, token, row.expiresAt) };
    },

    async close(token: string): Promise<void> {
      await bus.write(({ tx }) => tx.session.deleteMany({ where: { hash: hashKey(token) } }));
    },

    /** Writes through a cookie must echo the session's CSRF token: a forged cross-site request cannot. */
    requireCsrf(token: string, req: Request): void {
      const sent = req.get(CSRF_HEADER);
      const expected = Buffer.from(csrfTokenFor(token));
      if (!sent || Buffer.byteLength(sent) !== expected.length || !timingSafeEqual(Buffer.from(sent), expected))
        throw new AppError(
          "forbidden",
          `missing or wrong CSRF token: a write with the session cookie must send the session's csrfToken in the X-CSRF-Token header`,
        );
    },

    ttlMs,
  };
}

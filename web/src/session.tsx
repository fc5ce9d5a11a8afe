// Who is signed in. The session lives in an HttpOnly cookie the page cannot read; GET /session says whose it is
// and hands over the CSRF token for writes. The API key typed at sign-in is sent once and kept nowhere.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { SessionSchema, type Role, type Session } from "@promptreg/client/contract";
import { ApiError, api, setCsrfToken, setSignedOutHandler } from "./api";

const SESSION_KEY = ["session"] as const;
const SessionContext = createContext<Session | null>(null);

/**
 * Asks as a probe (`?optional=true`): signed out is a 204, not a 401, so that loading the console signed out logs no
 * failed request in the browser's console. A 401 is read as signed out all the same.
 */
async function loadSession(): Promise<Session | null> {
  try {
    // undefined: the 204 of no session.
    const session: Session | undefined = await api("/session", SessionSchema, { query: { optional: true } });
    setCsrfToken(session?.csrfToken ?? null);
    return session ?? null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setCsrfToken(null);
      return null;
    }
    throw err;
  }
}

export function useSessionQuery() {
  const queryClient = useQueryClient();
  useEffect(() => {
    setSignedOutHandler(() => {
      setCsrfToken(null);
      queryClient.setQueryData(SESSION_KEY, null);
    });
  }, [queryClient]);
  return useQuery({ queryKey: SESSION_KEY, queryFn: loadSession, staleTime: 60_000, retry: false });
}

export function useSignIn() {
  const queryClient = useQueryClient();
  return async (key: string): Promise<Session> => {
    const session = await api("/session", SessionSchema, { method: "POST", body: { key } });
    setCsrfToken(session.csrfToken);
    queryClient.clear();
    queryClient.setQueryData(SESSION_KEY, session);
    return session;
  };
}

export function useSignOut() {
  const queryClient = useQueryClient();
  return async () => {
    await api("/session", null, { method: "DELETE" }).catch(() => {});
    setCsrfToken(null);
    queryClient.clear();
    queryClient.setQueryData(SESSION_KEY, null);
  };
}

export function useRefreshSession() {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: SESSION_KEY });
}

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

/** The same rules the API applies (src/auth/principal.ts, requireLabelRole): buttons the API would refuse are not shown. */
export const can = (session: Session, role: Role) => RANK[session.role] >= RANK[role];
export const canMoveLabel = (session: Session, label: string) =>
  session.protectedLabels.includes(label) ? session.role === "admin" : can(session, "write");
export const isInstanceAdmin = (session: Session) => session.role === "admin" && session.projectName === "default";

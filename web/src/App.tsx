import { Suspense, lazy } from "react";
import { Link, NavLink, Navigate, Route, Routes, useLocation, useNavigate } from "react-router";
import { ErrorBox, Loading } from "./components/ui";
import { PromptList } from "./pages/PromptList";
import { PromptRoute } from "./pages/PromptRoute";
import { SignIn } from "./pages/SignIn";
import { SessionProvider, can, useSession, useSessionQuery, useSignOut } from "./session";

const Datasets = lazy(() => import("./pages/Datasets"));
const Evaluators = lazy(() => import("./pages/Evaluators"));
const Experiments = lazy(() => import("./pages/Experiments"));
const Publish = lazy(() => import("./pages/Publish"));
const Reference = lazy(() => import("./pages/Reference"));
const Settings = lazy(() => import("./pages/Settings"));
const Traces = lazy(() => import("./pages/Traces"));
const Trace = lazy(() => import("./pages/Trace"));

export function App() {
  const session = useSessionQuery();
  const location = useLocation();

  if (session.isPending) return <Loading label="Loading the console" />;
  if (session.isError)
    return (
      <main className="narrow">
        <ErrorBox error={session.error} />
      </main>
    );
  if (!session.data) {
    if (location.pathname === "/sign-in") return <SignIn />;
    const next = location.pathname + location.search;
    return <Navigate to={`/sign-in${next === "/" ? "" : `?next=${encodeURIComponent(next)}`}`} replace />;
  }
  return (
    <SessionProvider session={session.data}>
      <Shell>
        <Suspense fallback={<Loading label="Loading" />}>
          <Routes>
            <Route path="/" element={<Navigate to="/prompts" replace />} />
            <Route
              path="/sign-in"
              element={<Navigate to={new URLSearchParams(location.search).get("next") ?? "/prompts"} replace />}
            />
            <Route path="/prompts" element={<PromptList />} />
            <Route path="/prompts/*" element={<PromptRoute />} />
            <Route
              path="/new"
              element={can(session.data, "write") ? <Publish /> : <Navigate to="/prompts" replace />}
            />
            <Route path="/traces" element={<Traces />} />
            <Route path="/traces/:traceId" element={<Trace />} />
            <Route path="/evaluators/*" element={<Evaluators />} />
            <Route path="/datasets/*" element={<Datasets />} />
            <Route path="/experiments/*" element={<Experiments />} />
            <Route path="/settings" element={<Settings />} />
            <Route path="/reference" element={<Reference />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </Shell>
    </SessionProvider>
  );
}

function Shell({ children }: { children: React.ReactNode }) {
  const session = useSession();
  const signOut = useSignOut();
  const navigate = useNavigate();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/prompts" className="brand">
          promptreg
        </Link>
        <nav aria-label="Main">
          <NavLink to="/prompts">Prompts</NavLink>
          <NavLink to="/traces">Traces</NavLink>
          <NavLink to="/evaluators">Evaluators</NavLink>
          <NavLink to="/datasets">Datasets</NavLink>
          <NavLink to="/experiments">Experiments</NavLink>
          {can(session, "write") && <NavLink to="/new">New prompt</NavLink>}
          <NavLink to="/settings">Settings</NavLink>
          <NavLink to="/reference">API</NavLink>
        </nav>
        <div className="whoami">
          <span
            className="who"
            title={`Signed in with the API key “${session.keyName}” (role ${session.role}) of project ${session.projectName}`}
          >
            {/* A key is often named after its role ("admin"): the name is shown only when it says more. */}
            {session.keyName !== session.role && <>{session.keyName} · </>}
            <span className={`role role-${session.role}`}>{session.role}</span> · project {session.projectName}
          </span>
          <button
            type="button"
            className="link-button"
            onClick={async () => {
              await signOut();
              navigate("/sign-in");
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}

function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at this address. <Link to="/prompts">Go to the prompts</Link>.
      </p>
    </section>
  );
}

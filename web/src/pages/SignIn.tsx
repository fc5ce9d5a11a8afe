import { useState } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { ErrorBox } from "../components/ui";
import { useSignIn } from "../session";

export function SignIn() {
  const signIn = useSignIn();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [key, setKey] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  return (
    <main id="main" className="sign-in">
      <h1>
        <span className="brand">promptreg</span> console
      </h1>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            await signIn(key.trim());
            setKey("");
            const next = params.get("next");
            navigate(next?.startsWith("/") && !next.startsWith("//") ? next : "/prompts", { replace: true });
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-describedby="api-key-help"
          // biome-ignore lint/a11y/noAutofocus: the key is the page's only field; the page exists to take it.
          autoFocus
        />
        <p id="api-key-help" className="muted">
          The admin key was printed when the server first started (it is also in <code>.promptreg/admin-key</code>).
          Keys made under Settings work too. The key is exchanged for a session cookie and is not kept in this browser.
        </p>
        {error !== null && <ErrorBox error={error} title="Could not sign in" />}
        <button type="submit" className="primary" disabled={busy || key.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

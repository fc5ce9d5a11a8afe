// The API reference: the server's own OpenAPI document (GET /api/v1/openapi.json, generated from the contract's
// schemas) shown by Swagger UI. The viewer is large, so it is a chunk of its own, fetched only when this page opens;
// it loads nothing from anywhere else (no validator badge, no fonts), as the console's CSP requires.
import { useEffect, useRef, useState } from "react";
import { API } from "../api";
import { ErrorBox, Loading } from "../components/ui";
import "./reference.css";

export default function Reference() {
  const node = useRef<HTMLDivElement>(null);
  const [state, setState] = useState<"loading" | "ready" | { error: unknown }>("loading");

  useEffect(() => {
    let cancelled = false;
    Promise.all([import("swagger-ui-dist/swagger-ui-es-bundle.js"), import("swagger-ui-dist/swagger-ui.css")])
      .then(([{ default: SwaggerUI }]) => {
        if (cancelled || !node.current) return;
        SwaggerUI({
          domNode: node.current,
          url: `${API}/openapi.json`,
          // The public validator would be asked about the document: nothing leaves this origin.
          validatorUrl: null,
          // Reads can be tried with the console's session; writes need its CSRF token, which Swagger UI cannot send.
          supportedSubmitMethods: ["get"],
          defaultModelsExpandDepth: 0,
          onComplete: () => {
            // Swagger UI's server list has no label of its own.
            node.current?.querySelector("select#servers")?.setAttribute("aria-label", "Server");
            if (!cancelled) setState("ready");
          },
        });
      })
      .catch((error: unknown) => !cancelled && setState({ error }));
    return () => {
      cancelled = true;
    };
  }, []);

  return (
    <section className="reference">
      <h1>API reference</h1>
      <p>
        Every route of <code>{API}</code>, generated from the schemas the server checks its answers with. The document
        itself is at <a href={`${API}/openapi.json`}>{`${API}/openapi.json`}</a> (no key needed), for generating a
        client.
      </p>
      {state === "loading" && <Loading label="Loading the reference" />}
      {typeof state === "object" && <ErrorBox error={state.error} title="The reference could not be loaded" />}
      <div ref={node} data-testid="reference" />
    </section>
  );
}

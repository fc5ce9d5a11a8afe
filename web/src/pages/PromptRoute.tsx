// /prompts/<name>[/-/<page>]: prompt names contain "/", and a segment of their names can never be "-", so "/-/"
// separates the name from the page unambiguously (and every page state is in the address, ready to paste).
import { useQuery } from "@tanstack/react-query";
import { Suspense, lazy } from "react";
import { Link, NavLink, useParams } from "react-router";
import { PromptDetailSchema, type PromptDetail } from "@promptreg/client/contract";
import { ApiError, api, promptPath } from "../api";
import { Badge, ErrorBox, LabelBadge, Loading } from "../components/ui";
import { can, useSession } from "../session";
import Compare, { usePrefetchCompare } from "./Compare";
import { Labels } from "./Labels";
import { TryIt } from "./TryIt";
import { Versions } from "./Versions";

const Publish = lazy(() => import("./Publish"));
const Diff = lazy(() => import("./Diff"));

const PAGES = ["versions", "labels", "diff", "try", "publish", "compare"] as const;
type Page = (typeof PAGES)[number];

export const promptHref = (name: string, page: Page = "versions", query?: Record<string, string>) => {
  const qs = query ? `?${new URLSearchParams(query)}` : "";
  return `/prompts/${name}${page === "versions" ? "" : `/-/${page}`}${qs}`;
};

export function usePrompt(name: string) {
  return useQuery({ queryKey: ["prompt", name], queryFn: () => api(promptPath(name), PromptDetailSchema) });
}

export function PromptRoute() {
  const splat = useParams()["*"] ?? "";
  const [name, pageText] = splat.includes("/-/")
    ? [splat.slice(0, splat.indexOf("/-/")), splat.slice(splat.indexOf("/-/") + 3)]
    : [splat.replace(/\/+$/, ""), "versions"];
  const page = (PAGES as readonly string[]).includes(pageText) ? (pageText as Page) : null;
  const prompt = usePrompt(name);
  // Not lazy, and its data asked for alongside the prompt's: the compare page's verdict is what an on-call engineer
  // opens this for, so it must not wait for a chunk and then for the prompt before it even asks.
  usePrefetchCompare(name, page === "compare");
  const session = useSession();

  if (prompt.isPending) return <Loading label={`Loading ${name}`} />;
  if (prompt.isError)
    return (
      <section>
        <h1>{name}</h1>
        <ErrorBox error={prompt.error} />
        {prompt.error instanceof ApiError && prompt.error.status === 404 && (
          <p>
            <Link to="/prompts">Back to the prompts</Link>
          </p>
        )}
      </section>
    );
  if (!page)
    return (
      <section>
        <h1>{name}</h1>
        <p>
          There is no page “{pageText}” here. <Link to={promptHref(name)}>Go to the versions</Link>.
        </p>
      </section>
    );

  return (
    <section>
      <PromptHeader prompt={prompt.data} />
      <nav className="tabs" aria-label="Prompt pages">
        <NavLink to={promptHref(name)} end>
          Versions
        </NavLink>
        <NavLink to={promptHref(name, "labels")}>Labels</NavLink>
        <NavLink to={promptHref(name, "compare")}>Compare</NavLink>
        <NavLink to={promptHref(name, "diff")}>Diff</NavLink>
        <NavLink to={promptHref(name, "try")}>Try it</NavLink>
        {can(session, "write") && <NavLink to={promptHref(name, "publish")}>Publish</NavLink>}
      </nav>
      <Suspense fallback={<Loading />}>
        {page === "versions" && <Versions prompt={prompt.data} />}
        {page === "labels" && <Labels prompt={prompt.data} />}
        {page === "diff" && <Diff prompt={prompt.data} />}
        {page === "compare" && <Compare prompt={prompt.data} />}
        {page === "try" && <TryIt prompt={prompt.data} />}
        {page === "publish" &&
          (can(session, "write") ? (
            <Publish prompt={prompt.data} />
          ) : (
            <p>Publishing needs a key with the write role.</p>
          ))}
      </Suspense>
    </section>
  );
}

function PromptHeader({ prompt }: { prompt: PromptDetail }) {
  const parts = prompt.name.split("/");
  return (
    <header className="prompt-head">
      <nav aria-label="Folder" className="breadcrumbs">
        <Link to="/prompts">All prompts</Link>
        {parts.slice(0, -1).map((part, i) => (
          <span key={i}>
            {" / "}
            <Link to={`/prompts?folder=${encodeURIComponent(parts.slice(0, i + 1).join("/"))}`}>{part}</Link>
          </span>
        ))}
      </nav>
      <h1>
        {parts[parts.length - 1]} <Badge>{prompt.type}</Badge>
      </h1>
      {prompt.description && <p className="description">{prompt.description}</p>}
      <div className="badges" role="group" aria-label="Labels">
        {prompt.labels.map((l) => (
          <LabelBadge key={l.name} name={l.name} version={l.version} isProtected={l.protected} />
        ))}
        {prompt.tags.map((t) => (
          <Link key={t} className="tag" to={`/prompts?tag=${encodeURIComponent(t)}`}>
            #{t}
          </Link>
        ))}
      </div>
    </header>
  );
}

// Shared bench helpers: servers run in child processes so the load generator never shares their event loop.
import { fork } from "node:child_process";
import autocannon from "autocannon";

/** Forks a server script that sends `{ port }` over IPC once it listens. */
export async function startChild(script, env = {}) {
  const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start in 60 s`)), 60_000);
    child.once("message", (m) => {
      clearTimeout(timer);
      resolve(m.port);
    });
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return {
    port,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Requests per second that autocannon sustains against `url`; non-2xx answers make the run fail. */
export async function measure(url, { connections = 10, duration = 5, headers = {} } = {}) {
  const result = await autocannon({ url, connections, duration, headers, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (n) => Math.round(n).toLocaleString("en-US");

// The servers tests start (fakes, proxies, a second listener of the app) on a free local port.
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import type { AddressInfo } from "node:net";

export interface Listener {
  url: string;
  port: number;
  /** Stops listening and cuts the connections still open, so that it never waits for them. */
  close(): Promise<void>;
}

/** Listens on a free port of 127.0.0.1. */
export async function listen(server: http.Server | net.Server): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** An app (the registry's, or one built with other limits) on its own server, for tests that watch the server. */
export async function serve(app: http.RequestListener): Promise<Listener & { server: http.Server }> {
  const server = http.createServer(app);
  return { server, ...(await listen(server)) };
}

// `watch --metrics`: a small HTTP server for Prometheus scrapes, capped so that idle or
// flooding clients cannot use up the agent's file descriptors.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { serveHealth, type WatchHealth } from '../health';
import { parseListenAddress } from './listen-address';
import type { Logger } from '../logger';

// A scrape is one short request: a few connections and seconds are plenty. Without limits, idle
// connections pile up until the agent runs out of fds and cannot start iptables any more.
const METRICS_MAX_CONNECTIONS = 16;
const METRICS_SERVER_OPTIONS = {
  headersTimeout: 5_000,
  requestTimeout: 10_000,
  keepAliveTimeout: 5_000,
  // How often the server looks for connections past headersTimeout/requestTimeout (default 30 s).
  connectionsCheckingInterval: 1_000,
} as const;

function capMetricsServer(server: Server): void {
  server.maxConnections = METRICS_MAX_CONNECTIONS;
  server.maxHeadersCount = 50;
  server.maxRequestsPerSocket = 100;
  // A connection that sends nothing at all is closed after this long.
  server.setTimeout(10_000, (socket) => socket.destroy());
}

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\./.test(host);

/** Serves the registry at http://address/metrics, and the loop's /healthz and /readyz, once
 *  listening; logs the URL. */
export async function serveMetrics(registry: Registry, health: WatchHealth, address: string, log: Logger): Promise<Server> {
  const { host, port } = parseListenAddress(address);
  if (!isLoopback(host)) log.warn({ host }, 'serving metrics on a non-loopback address');
  const server = createServer(METRICS_SERVER_OPTIONS, (req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(err.message);
        },
      );
      return;
    }
    if (serveHealth(health, req, res)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found: try /metrics, /healthz or /readyz\n');
  });
  capMetricsServer(server);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const addr = server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  log.info({ url: `http://${shownHost}:${actualPort}/metrics` }, 'serving metrics');
  return server;
}

/** Stops listening and drops open connections; resolves once closed. */
export async function closeMetricsServer(server: Server | undefined): Promise<void> {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server?.closeAllConnections?.();
}

// `--metrics [HOST:]PORT`: its parser, apart from the server so that parsing the command line
// does not load node:http.
import { isIP } from 'node:net';
import { InvalidArgumentError } from 'commander';

/** "9090", ":9090", "127.0.0.1:9090", "[::1]:9090" → host and port; loopback unless a host is given. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*))?:?(\d+)$/.exec(text.trim());
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535 || (host !== '' && host !== 'localhost' && isIP(host) === 0)) {
    throw new InvalidArgumentError(`expected [HOST:]PORT such as 127.0.0.1:9464 or 9464, got ${JSON.stringify(text)}`);
  }
  return { host: host === '' ? '127.0.0.1' : host, port };
}

import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { hostname } from 'node:os';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether an IP address is this machine's loopback: 127.0.0.0/8, ::1, or 127/8 mapped into IPv6. */
export function isLoopback(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Where to listen: the first address a host resolves to, and whether every address it has is loopback. */
export interface BindAddress {
  address: string;
  loopback: boolean;
  /** Every address the host resolved to, for the error message when it is not all loopback. */
  resolved: string[];
}

/**
 * Resolves the host the inspector was asked to listen on. The decision is taken on addresses, not on
 * the name: `0.0.0.0`, `::` and a LAN name all reach beyond this machine, and a name could resolve to
 * anything. The server then listens on the resolved address itself, so what was checked is what is bound.
 */
export async function resolveBindAddress(host: string): Promise<BindAddress> {
  const all = await lookup(host, { all: true, verbatim: true });
  if (all.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
  const resolved = all.map((a) => a.address);
  return { address: resolved[0]!, loopback: resolved.every(isLoopback), resolved };
}

/** A Host header or origin reduced to what identifies a server: its normalized host name and port. */
interface Authority {
  hostname: string;
  port: number;
}

/** Parses `host[:port]` the way a browser writes it; undefined when it carries anything else. */
function parseAuthority(value: string): Authority | undefined {
  if (value === '' || /[\s/\\?#@]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${value}`);
  } catch {
    return undefined;
  }
  // The name as browsers send it: lower case, IPv6 in brackets and compressed, no trailing dot.
  return { hostname: url.hostname.replace(/\.$/, ''), port: url.port === '' ? 80 : Number(url.port) };
}

/** A host name or IP address as it appears in a URL's host: IPv6 bracketed, then normalized. */
function urlHostname(host: string): string | undefined {
  return parseAuthority(isIP(host) === 6 ? `[${host}]` : host)?.hostname;
}

const isIpLiteral = (name: string) => name.startsWith('[') || isIP(name) === 4;

/**
 * Which names this server answers to. A page on an attacker's site can make the browser talk to a
 * local port under the attacker's own name (DNS rebinding), and then the same-origin policy no longer
 * protects the answers; the name it uses is in the Host header, so requests naming any other host are
 * refused. Likewise a request carrying an Origin must come from the inspector's own page.
 */
export class RequestGate {
  private readonly names = new Set<string>();
  private readonly anyIp: boolean;

  constructor(
    private readonly port: number,
    bound: BindAddress,
    givenHost: string,
  ) {
    for (const name of [bound.address, givenHost]) {
      const normalized = urlHostname(name);
      if (normalized) this.names.add(normalized);
    }
    // A wildcard bind answers on every interface; an IP literal cannot be rebound, so any is fine.
    this.anyIp = bound.address === '0.0.0.0' || bound.address === '::';
    if (bound.loopback || this.anyIp) for (const name of ['localhost', '127.0.0.1', '[::1]']) this.names.add(name);
    if (this.anyIp) {
      const own = urlHostname(hostname());
      if (own) this.names.add(own);
    }
  }

  /** The Host header names this server (one of its names, and its port). */
  hostAllowed(host: string | undefined): boolean {
    const authority = host === undefined ? undefined : parseAuthority(host);
    if (!authority || authority.port !== this.port) return false;
    return this.names.has(authority.hostname) || (this.anyIp && isIpLiteral(authority.hostname));
  }

  /** No Origin (a navigation or a same-origin GET), or exactly the origin of the page this Host serves. */
  originAllowed(origin: string | undefined, host: string): boolean {
    if (origin === undefined) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // includes the opaque origin "null": sandboxed frames, file: pages
    }
    const own = parseAuthority(host);
    const port = url.port === '' ? 80 : Number(url.port);
    const name = url.hostname.replace(/\.$/, '');
    return url.protocol === 'http:' && own !== undefined && name === own.hostname && port === own.port;
  }
}

/**
 * The client's address. `X-Forwarded-For` is believed only as far as TRUST_PROXY says: anyone
 * can send the header, and per-IP limits keyed on a forged address would limit nobody. The
 * parsing of the header and of the trust list is proxy-addr's (Express's).
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

export type ClientIp = (request: IncomingMessage | undefined) => string;

export function clientIpResolver(trustProxy: string[]): ClientIp {
  const hops = trustProxy.length === 1 && /^\d+$/.test(trustProxy[0]!) ? Number(trustProxy[0]) : undefined;
  // proxy-addr walks from the socket outwards; a hop count trusts that many proxies.
  const trust = hops !== undefined ? (_address: string, index: number) => index < hops : proxyAddr.compile(trustProxy);
  return (request) => (request ? proxyAddr(request, trust) : 'unknown');
}

/**
 * Validation of ClusterNet options. Every failure is a ConfigError naming the field, the value
 * and the fix; nothing here touches the network (bind-time errors come from udp-link.ts).
 */
import { isIP } from 'node:net';
import { ConfigError } from '../errors/index.js';
import type { LinkConfig } from './udp-link.js';

export const MAX_LINKS = 8;
/** knet's default ping interval is far slower; 100 ms keeps a dead link visible within 0.5 s. */
export const DEFAULT_LINK_PING_MS = 100;
/** Five ping intervals: one or two lost pings on a busy LAN never flap a link. */
export const DEFAULT_LINK_TIMEOUT_MS = 500;

export interface NodeAddress {
  id: number;
  /**
   * `addrs[k]` is the node's address on link k (corosync's ring0_addr, ring1_addr…): an IP
   * literal, optionally with a port ("10.0.0.1:5405", "[fd00::1]:5405") when the node does not use
   * `links[k].port` (several nodes on one host). Links in mcast mode do not use it.
   */
  addrs: string[];
}

/** Where to send on one link to reach one peer. */
export interface PeerEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ResolvedNode {
  readonly id: number;
  /** Per link; undefined for mcast links. */
  readonly endpoints: readonly (PeerEndpoint | undefined)[];
}

export function validateLinks(links: unknown): LinkConfig[] {
  if (!Array.isArray(links) || links.length < 1 || links.length > MAX_LINKS) {
    throw new ConfigError('links', `expected 1 to ${MAX_LINKS} links, got ${describe(links)}; add one entry per network (ring)`);
  }
  return links.map((raw: unknown, index) => validateLink(raw, index));
}

function validateLink(raw: unknown, index: number): LinkConfig {
  const field = `links[${index}]`;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError(field, `expected an object, got ${describe(raw)}`);
  const link = raw as Partial<LinkConfig>;
  if (link.mode !== 'udpu' && link.mode !== 'mcast') {
    throw new ConfigError(`${field}.mode`, `expected 'udpu' or 'mcast', got ${describe(link.mode)}`);
  }
  if (typeof link.bindAddr !== 'string' || isIP(link.bindAddr) === 0) {
    throw new ConfigError(`${field}.bindAddr`, `expected an IPv4 or IPv6 address literal, got ${describe(link.bindAddr)}`);
  }
  const family = isIP(link.bindAddr);
  if (!Number.isInteger(link.port) || link.port! < 1 || link.port! > 65535) {
    throw new ConfigError(`${field}.port`, `expected a UDP port 1..65535, got ${describe(link.port)}`);
  }
  if (link.mode === 'mcast') {
    if (typeof link.mcastAddr !== 'string' || isIP(link.mcastAddr) !== family || !isMulticast(link.mcastAddr)) {
      throw new ConfigError(
        `${field}.mcastAddr`,
        `expected an IPv${family} multicast group (${family === 4 ? '239.0.0.0/8 for site-local use' : 'ff15::/16 or similar'}), got ${describe(link.mcastAddr)}`,
      );
    }
    if (link.ttl !== undefined && (!Number.isInteger(link.ttl) || link.ttl < 0 || link.ttl > 255)) {
      throw new ConfigError(`${field}.ttl`, `expected an integer 0..255 (1 keeps the group on the local segment), got ${describe(link.ttl)}`);
    }
    if (link.mcastInterface !== undefined) {
      const ok = family === 4 ? isIP(link.mcastInterface) === 4 : typeof link.mcastInterface === 'string' && /^[\w.-]{1,15}$/.test(link.mcastInterface);
      if (!ok) {
        throw new ConfigError(
          `${field}.mcastInterface`,
          `expected ${family === 4 ? 'the IPv4 address of the outgoing interface' : 'an interface name such as eth1'}, got ${describe(link.mcastInterface)}`,
        );
      }
    }
  } else {
    for (const key of ['mcastAddr', 'ttl', 'mcastInterface'] as const) {
      if (link[key] !== undefined) {
        throw new ConfigError(`${field}.${key}`, `only applies to mode 'mcast'; remove it or set mode: 'mcast'`);
      }
    }
  }
  return { ...link } as LinkConfig;
}

export function validateNodes(nodes: unknown, links: readonly LinkConfig[], selfId: number): ResolvedNode[] {
  if (!Array.isArray(nodes) || nodes.length < 1) {
    throw new ConfigError('nodes', `expected a non-empty list of { id, addrs }, got ${describe(nodes)}`);
  }
  const seen = new Set<number>();
  const resolved = nodes.map((raw: unknown, index): ResolvedNode => {
    const field = `nodes[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new ConfigError(field, `expected { id, addrs }, got ${describe(raw)}`);
    const node = raw as Partial<NodeAddress>;
    if (!Number.isInteger(node.id) || node.id! < 1) {
      throw new ConfigError(`${field}.id`, `expected a positive integer node id, got ${describe(node.id)}`);
    }
    if (seen.has(node.id!)) throw new ConfigError(`${field}.id`, `node id ${node.id} is listed twice; node ids must be unique`);
    seen.add(node.id!);
    if (!Array.isArray(node.addrs)) throw new ConfigError(`${field}.addrs`, `expected one address per link, got ${describe(node.addrs)}`);
    const endpoints = links.map((link, k) => {
      if (link.mode === 'mcast') return undefined;
      const value: unknown = node.addrs![k];
      const endpoint = typeof value === 'string' ? parseEndpoint(value, link.port) : undefined;
      const family = isIP(link.bindAddr);
      if (endpoint === undefined || isIP(endpoint.address) !== family) {
        throw new ConfigError(
          `${field}.addrs[${k}]`,
          `expected the node's IPv${family} address on link ${k} (like links[${k}].bindAddr, optionally "addr:port"), got ${describe(value)}`,
        );
      }
      if (isMulticast(endpoint.address)) {
        throw new ConfigError(`${field}.addrs[${k}]`, `${endpoint.address} is a multicast group; udpu links need each node's unicast address`);
      }
      return endpoint;
    });
    return { id: node.id!, endpoints };
  });
  if (!seen.has(selfId)) {
    throw new ConfigError('nodes', `the local node ${selfId} (wire.nodeId) is missing; list every node, this one included, as in corosync's nodelist`);
  }
  return resolved;
}

/** "1.2.3.4", "1.2.3.4:5405", "fd00::1", "[fd00::1]:5405" → endpoint; anything else → undefined. */
export function parseEndpoint(text: string, defaultPort: number): PeerEndpoint | undefined {
  if (isIP(text) !== 0) return { address: text, port: defaultPort };
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const plain = /^([\d.]+):(\d{1,5})$/.exec(text);
  const match = bracketed ?? plain;
  if (!match) return undefined;
  const address = match[1]!;
  const port = Number(match[2]);
  if (isIP(address) !== (bracketed ? 6 : 4) || port < 1 || port > 65535) return undefined;
  return { address, port };
}

export function validatePositiveMs(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ConfigError(field, `expected a positive number of milliseconds, got ${describe(value)}`);
  }
  return value;
}

export function isMulticast(address: string): boolean {
  const family = isIP(address);
  if (family === 4) {
    const first = Number(address.split('.')[0]);
    return first >= 224 && first <= 239;
  }
  return family === 6 && /^ff/i.test(address);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

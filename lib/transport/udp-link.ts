/**
 * One UDP socket carrying one link (one corosync ring / knet link).
 *
 * Takes: a validated link config. Emits: every datagram, with the link index, to one callback.
 * Must never: throw from a send (transient network errors are counted, per errno code), let a
 * socket 'error' event crash the process, or look inside a datagram (that is the wire's job).
 *
 * Socket setup (bind, multicast membership, close) goes through dgram-as-promised. The two hot
 * paths use the raw socket underneath: receiving on the 'message' event, because the promise
 * loop (one Promise plus three listener add/remove pairs per datagram) cost 15-25% more
 * receive-loop time in test/transport/recv-path-bench.ts (figures in docs/transport.md), and a
 * socket error would end it; sending with a callback, because a Promise per datagram buys
 * nothing when the result is only counted.
 */
import DgramAsPromised, { type SocketAsPromised } from 'dgram-as-promised';
import type { RemoteInfo } from 'node:dgram';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { SanodeError } from '../errors/index.js';

export type LinkMode = 'udpu' | 'mcast';

export interface LinkConfig {
  /** `udpu`: unicast to each peer (corosync udpu). `mcast`: one multicast group for all. */
  mode: LinkMode;
  /** Local address of this link. In mcast mode: the address of the interface to use. */
  bindAddr: string;
  /** UDP port. In mcast mode every node uses the same port. */
  port: number;
  /** mcast mode: the group address (224.0.0.0/4 or ff00::/8). */
  mcastAddr?: string;
  /** mcast mode: multicast TTL / hop limit. Default 1: the group stays on the local segment. */
  ttl?: number;
  /**
   * mcast mode: outgoing interface. IPv4: an address of the interface (default `bindAddr`).
   * IPv6: an interface name such as `eth1` (default: the interface that holds `bindAddr`).
   */
  mcastInterface?: string;
}

export interface LinkCounters {
  rx: number;
  rxBytes: number;
  tx: number;
  txBytes: number;
  /** Sends the kernel refused or that failed later (EHOSTUNREACH, ENETUNREACH, EPERM…). */
  sendErrors: number;
  sendErrorsByCode: Record<string, number>;
  /** Socket 'error' events after bind; counted, never thrown. */
  socketErrors: number;
}

/** `source`: the sender's "addr:port" as the socket saw it (only for reports: it proves nothing). */
export type DatagramHandler = (datagram: Buffer, link: number, source: string) => void;

export class UdpLink {
  readonly index: number;
  readonly config: Readonly<LinkConfig>;
  readonly family: 4 | 6;
  readonly counters: LinkCounters = {
    rx: 0,
    rxBytes: 0,
    tx: 0,
    txBytes: 0,
    sendErrors: 0,
    sendErrorsByCode: {},
    socketErrors: 0,
  };
  /** Last send error message, for status displays: the code alone rarely says which peer. */
  lastSendError: string | undefined;
  readonly #socket: SocketAsPromised;
  readonly #local: string;
  #closed = false;
  readonly #onSent: (error: Error | null, bytes?: number) => void;

  private constructor(index: number, config: LinkConfig, socket: SocketAsPromised, local: string) {
    this.index = index;
    this.config = config;
    this.family = isIP(config.bindAddr) === 6 ? 6 : 4;
    this.#socket = socket;
    this.#local = local;
    this.#onSent = (error) => {
      if (error) this.#countSendError(error);
    };
  }

  /**
   * Binds the link. Rejects with SANODE_ADDRESS_NOT_LOCAL when `bindAddr` is not an address of
   * this host, SANODE_PORT_IN_USE when the port is taken (udpu), and passes other errors on.
   */
  static async open(index: number, config: LinkConfig, onDatagram: DatagramHandler): Promise<UdpLink> {
    const family = isIP(config.bindAddr) === 6 ? 6 : 4;
    const type = family === 6 ? 'udp6' : 'udp4';
    const field = `links[${index}]`;
    if (config.mode === 'mcast') {
      // The multicast socket binds to the group, so locality of bindAddr must be proved apart.
      await probeLocal(type, config.bindAddr, field);
    }
    const socket = DgramAsPromised.createSocket({
      type,
      // Several nodes (processes or tests) on one host share a multicast group and port.
      reuseAddr: config.mode === 'mcast',
      // A link that silently lives on as IPv4-mapped would hide a config mistake.
      ipv6Only: family === 6,
    });
    try {
      if (config.mode === 'udpu') {
        await socket.bind({ port: config.port, address: config.bindAddr, exclusive: true });
      } else {
        // Bound to the group address, the socket gets this group only (not every group some
        // other socket on the host joined) and nothing unicast.
        await socket.bind({ port: config.port, address: config.mcastAddr!, exclusive: true });
        const iface = multicastInterface(config, family);
        socket.addMembership(config.mcastAddr!, iface);
        socket.setMulticastInterface(iface);
        socket.setMulticastLoopback(true);
        socket.setMulticastTTL(config.ttl ?? 1);
      }
    } catch (error) {
      socket.socket.close();
      throw bindError(error, config, field);
    }
    const address = socket.address();
    const local = family === 6 ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
    const link = new UdpLink(index, config, socket, config.mode === 'mcast' ? `${config.bindAddr} -> ${local}` : local);
    socket.socket.on('message', (datagram: Buffer, rinfo: RemoteInfo) => {
      link.counters.rx += 1;
      link.counters.rxBytes += datagram.length;
      onDatagram(datagram, index, rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`);
    });
    socket.socket.on('error', () => {
      link.counters.socketErrors += 1;
    });
    return link;
  }

  /** "addr:port" this link listens on (mcast: "ifaceAddr -> group:port"). */
  get local(): string {
    return this.#local;
  }

  /** The port actually bound (differs from the config only when it asked for 0). */
  get port(): number {
    return this.#socket.address().port;
  }

  /** Fire and forget: errors, now or later, are counted and never reach the caller. */
  send(datagram: Uint8Array, port: number, address: string): void {
    if (this.#closed) return;
    try {
      this.#socket.socket.send(datagram, port, address, this.#onSent);
      this.counters.tx += 1;
      this.counters.txBytes += datagram.byteLength;
    } catch (error) {
      this.#countSendError(error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.socket.removeAllListeners('message');
    await this.#socket.close();
  }

  #countSendError(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
    this.counters.sendErrors += 1;
    this.counters.sendErrorsByCode[code] = (this.counters.sendErrorsByCode[code] ?? 0) + 1;
    this.lastSendError = error instanceof Error ? error.message : String(error);
  }
}

async function probeLocal(type: 'udp4' | 'udp6', address: string, field: string): Promise<void> {
  const probe = DgramAsPromised.createSocket({ type, ipv6Only: type === 'udp6' });
  try {
    await probe.bind({ port: 0, address, exclusive: true });
  } catch (error) {
    probe.socket.close();
    throw bindError(error, { bindAddr: address, port: 0 }, field);
  }
  await probe.close();
}

function bindError(error: unknown, config: Pick<LinkConfig, 'bindAddr' | 'port'>, field: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRNOTAVAIL' || code === 'EINVAL') {
    return new SanodeError(
      'SANODE_ADDRESS_NOT_LOCAL',
      `${field}.bindAddr: ${config.bindAddr} is not an address of this host; ` +
        `use one of its own addresses (see \`ip -br addr\`), or add it to an interface first`,
      { field: `${field}.bindAddr`, cause: error },
    );
  }
  if (code === 'EADDRINUSE') {
    return new SanodeError(
      'SANODE_PORT_IN_USE',
      `${field}.port: UDP port ${config.port} on ${config.bindAddr} is already in use; ` +
        `stop the process that holds it (see \`ss -ulpn 'sport = :${config.port}'\`) or choose another port`,
      { field: `${field}.port`, cause: error },
    );
  }
  return error;
}

/** The interface argument Node wants for membership and IP_MULTICAST_IF / IPV6_MULTICAST_IF. */
function multicastInterface(config: LinkConfig, family: 4 | 6): string {
  if (family === 4) return config.mcastInterface ?? config.bindAddr;
  const name = config.mcastInterface ?? interfaceHolding(config.bindAddr);
  // IPv6 picks the interface by scope id, which libuv parses from "%name".
  return `::%${name}`;
}

function interfaceHolding(address: string): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((entry) => entry.address === address)) return name;
  }
  throw new SanodeError(
    'SANODE_ADDRESS_NOT_LOCAL',
    `mcastInterface: no interface holds ${address}; set mcastInterface to the interface name`,
    { field: 'mcastInterface' },
  );
}

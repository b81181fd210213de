/**
 * lib/transport: the wire layer over redundant UDP links (corosync's totem interfaces / knet).
 *
 * Takes: WireOptions, 1..8 link configs (udpu or mcast, IPv4 or IPv6), the cluster's node list.
 * Emits: 'message' (from, message, incarnation) for each complete, authenticated application
 * message addressed to this node; 'link' (status, change) when a (peer, link) turns faulty or
 * healthy again.
 * Must never: throw from the receive path or on a transient send error, deliver a ping, its own
 * frame or a frame addressed to another node, or deliver one message twice because it came over
 * two links (the wire drops the later copy as 'duplicate').
 *
 * Only this layer and lib/runtime touch sockets and timers. The health monitor (health.ts) is
 * sans-IO and usable on its own.
 */
export { ClusterNet } from './cluster-net.js';
export type { AuthFailureSource, AuthFailureWarning, ClusterNetOptions, ClusterNetEvents, ClusterNetStats, LinkStatus, LinkChange } from './cluster-net.js';
export { AUTH_WARNING_INTERVAL_MS } from './cluster-net.js';
export type { LinkConfig, LinkCounters, LinkMode } from './udp-link.js';
export type { NodeAddress } from './config.js';
export { DEFAULT_LINK_PING_MS, DEFAULT_LINK_TIMEOUT_MS, MAX_LINKS } from './config.js';
export { LinkHealthMonitor } from './health.js';
export type { LinkHealthOptions, PeerLinkHealth, HealthChange, PingWork, HealthTick } from './health.js';

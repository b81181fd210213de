/**
 * Suggestions for an unknown configuration key: the spelling a corosync.conf or Pacemaker user
 * types first, else the nearest known key at that level, else a known key elsewhere with that name.
 *
 * Takes: the unknown key, where it stood, and every known key path of the schema.
 * Emits: a hint ("did you mean 'quorum.twoNode'? (corosync's two_node)") or undefined.
 * Never: guesses further than two edits away, so a key that merely looks long is not "corrected".
 */

/** corosync.conf, votequorum and Pacemaker spellings, normalised (lower case, no '_' or '-'). */
const FOREIGN: Record<string, { path: string; note: string }> = {
  twonode: { path: 'quorum.twoNode', note: "votequorum's two_node" },
  waitforall: { path: 'quorum.waitForAll', note: "votequorum's wait_for_all" },
  lastmanstanding: { path: 'quorum.lastManStanding', note: "votequorum's last_man_standing" },
  lastmanstandingwindow: { path: 'quorum.lastManStandingWindowMs', note: "votequorum's last_man_standing_window, in milliseconds" },
  autotiebreaker: { path: 'quorum.autoTieBreaker', note: "votequorum's auto_tie_breaker" },
  autotiebreakernode: { path: 'quorum.autoTieBreakerNodes', note: "votequorum's auto_tie_breaker_node" },
  expectedvotes: { path: 'quorum.expectedVotes', note: "votequorum's expected_votes" },
  quorumvotes: { path: 'quorum.votes', note: "the nodelist's quorum_votes, as { <node id>: votes }" },
  token: { path: 'timers.tokenTimeoutMs', note: "corosync's totem.token, in milliseconds" },
  tokenretransmit: { path: 'timers.tokenRetransmitMs', note: "corosync's token_retransmit" },
  tokencoefficient: { path: 'timers.tokenPerMemberMs', note: "corosync's token_coefficient" },
  hold: { path: 'timers.tokenHoldMs', note: "corosync's hold" },
  join: { path: 'timers.joinMs', note: "corosync's join" },
  consensus: { path: 'timers.consensusMs', note: "corosync's consensus" },
  merge: { path: 'timers.mergeDetectMs', note: "corosync's merge" },
  failrecvconst: { path: 'timers.failToRecvMs', note: "corosync's fail_recv_const is a count of tokens; sanode's is milliseconds" },
  bindnetaddr: { path: 'transport.peers', note: "corosync's bindnetaddr: sanode binds each node to its own address in transport.peers (or transport.links[k].bindAddr)" },
  mcastaddr: { path: 'transport.mcastAddr', note: "corosync's mcastaddr, with transport.mode: 'mcast'" },
  mcastport: { path: 'transport.port', note: "corosync's mcastport" },
  ringnumber: { path: 'transport.links', note: 'one transport.links entry per ring' },
  interface: { path: 'transport.links', note: "corosync's interface blocks are transport.links entries" },
  nodelist: { path: 'transport.nodes', note: "corosync's nodelist: [{ id, name, addrs: [ring0, ring1] }]" },
  ring0addr: { path: 'transport.nodes[].addrs', note: "corosync's ring0_addr is addrs[0]" },
  ring1addr: { path: 'transport.nodes[].addrs', note: "corosync's ring1_addr is addrs[1]" },
  nodeid: { path: 'node.id', note: "corosync's nodeid" },
  clustername: { path: 'cluster', note: "corosync's cluster_name" },
  secauth: { path: 'keyFile', note: 'traffic is always authenticated and encrypted with keyFile (security: insecure turns it off)' },
  cryptocipher: { path: 'keyFile', note: 'the cipher is fixed (XChaCha20-Poly1305); give the key with keyFile' },
  cryptohash: { path: 'keyFile', note: 'the cipher is fixed (XChaCha20-Poly1305); give the key with keyFile' },
  authkey: { path: 'keyFile', note: "corosync's authkey file, made with `sanode keygen`" },
  keyfile: { path: 'keyFile', note: 'the key made with `sanode keygen`' },
  noquorumpolicy: { path: 'cib.properties.noQuorumPolicy', note: "Pacemaker's no-quorum-policy" },
  stonithenabled: { path: 'cib.properties.stonithEnabled', note: "Pacemaker's stonith-enabled" },
  maintenancemode: { path: 'cib.properties.maintenanceMode', note: "Pacemaker's maintenance-mode" },
  symmetriccluster: { path: 'cib.properties.symmetricCluster', note: "Pacemaker's symmetric-cluster" },
  resourcestickiness: { path: 'cib.rscDefaults.resourceStickiness', note: "Pacemaker's resource-stickiness (or a resource's meta.resourceStickiness)" },
  migrationthreshold: { path: 'cib.rscDefaults.migrationThreshold', note: "Pacemaker's migration-threshold (or a resource's meta.migrationThreshold)" },
  primitive: { path: 'cib.resources', note: "Pacemaker's primitives are cib.resources entries with kind: primitive" },
  primitives: { path: 'cib.resources', note: "Pacemaker's primitives are cib.resources entries with kind: primitive" },
  group: { path: 'cib.resources', note: 'groups are cib.resources entries with kind: group' },
  groups: { path: 'cib.resources', note: 'groups are cib.resources entries with kind: group' },
  clone: { path: 'cib.resources', note: 'clones are cib.resources entries with kind: clone' },
  constraints: { path: 'cib.constraints', note: 'constraints live in the CIB part of the file' },
  properties: { path: 'cib.properties', note: 'cluster properties live in the CIB part of the file' },
  interval: { path: 'intervalMs', note: 'op intervals are in milliseconds' },
  timeout: { path: 'timeoutMs', note: 'op timeouts are in milliseconds' },
};

export const normaliseKey = (key: string): string => key.toLowerCase().replace(/[_\-\s]/g, '');

/** Edit distance with an early exit: anything above `limit` is reported as limit + 1. */
export function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j += 1) {
      const value = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      current.push(value);
      best = Math.min(best, value);
    }
    if (best > limit) return limit + 1;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * @param key the unknown key as written
 * @param siblings the keys known at the same level
 * @param prefix the dotted path of the object the key stood in ('' at the top)
 * @param allPaths every known dotted path of the schema (for a key written at the wrong level)
 */
export function suggestKey(key: string, siblings: readonly string[], prefix: string, allPaths: readonly string[]): string | undefined {
  const norm = normaliseKey(key);
  const at = (k: string): string => (prefix === '' ? k : `${prefix}.${k}`);
  const same = siblings.find((s) => normaliseKey(s) === norm);
  if (same !== undefined) return `did you mean '${at(same)}'?`;
  const foreign = FOREIGN[norm];
  if (foreign !== undefined) {
    // Op fields ('interval') are relative to the object they stand in.
    const path = foreign.path.includes('.') || siblings.includes(foreign.path) ? foreign.path : undefined;
    if (path !== undefined) return `did you mean '${siblings.includes(path) ? at(path) : path}'? (${foreign.note})`;
  }
  const limit = norm.length <= 4 ? 1 : 2;
  let nearest: { key: string; distance: number } | undefined;
  for (const s of siblings) {
    const d = editDistance(norm, normaliseKey(s), limit);
    if (d <= limit && (nearest === undefined || d < nearest.distance)) nearest = { key: s, distance: d };
  }
  if (nearest !== undefined) return `did you mean '${at(nearest.key)}'?`;
  // Written at the wrong level: `twoNode` at the top belongs under quorum.
  const elsewhere = allPaths.find((p) => normaliseKey(p.slice(p.lastIndexOf('.') + 1)) === norm);
  if (elsewhere !== undefined) return `did you mean '${elsewhere}'? (it belongs under ${elsewhere.slice(0, elsewhere.lastIndexOf('.')) || 'the top level'})`;
  return undefined;
}

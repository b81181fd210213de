/**
 * The sidecar's logs: JSON lines (pino) on stdout, each with node, view, epoch and, for resource
 * lines, the resource; or the same lines made readable (`--log-format pretty`).
 *
 * Takes: diagnostics_channel messages (lib/diagnostics.ts). Emits: log lines. The library never
 * logs itself; this is the one subscriber that turns what it publishes into lines.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Writable } from 'node:stream';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { CHANNELS, type ChannelName } from '../diagnostics.js';

export type LogFormat = 'json' | 'pretty';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** pino's JSON line, rewritten as "time LEVEL [node 1 view 4 epoch 3] resource: message key=value". */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const { time, level, msg, node, view, epoch, resource, cluster: _cluster, pid: _pid, hostname: _hostname, ...rest } = entry;
  void _cluster;
  void _pid;
  void _hostname;
  const where = [`node ${String(node ?? '?')}`, view === undefined ? undefined : `view ${String(view)}`, epoch === undefined ? undefined : `epoch ${String(epoch)}`].filter((x) => x !== undefined).join(' ');
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const stamp = typeof time === 'number' ? new Date(time).toISOString() : String(time);
  return `${stamp} ${(LEVEL_NAMES[level as number] ?? String(level)).padEnd(5)} [${where}]${resource === undefined ? '' : ` ${String(resource)}:`} ${String(msg ?? '')}${extra === '' ? '' : ` ${extra}`}\n`;
}

/**
 * @param context the node's current cluster, node, view and epoch, added to every line (the
 *   sidecar's own lines too, such as reload diffs), so any line can be read alone.
 */
export function createLogger(format: LogFormat, level: LevelWithSilent, out: NodeJS.WritableStream = process.stdout, context: () => object = () => ({})): Logger {
  const destination =
    format === 'json'
      ? out
      : new Writable({
          write(chunk: Buffer, _encoding, done) {
            for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.write(prettyLine(line));
            done();
          },
        });
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.epochTime, mixin: context }, destination as NodeJS.WritableStream as pino.DestinationStream);
}

type Message = Record<string, unknown>;

/** What each channel's message says, and at which level. */
const LINES: Record<ChannelName, (m: Message) => { level: 'info' | 'warn' | 'error'; msg: string }> = {
  [CHANNELS.view]: (m) => ({ level: 'info', msg: `view: members ${(m.members as number[]).join(', ')}` }),
  [CHANNELS.quorum]: (m) => (m.quorate === true ? { level: 'info', msg: 'quorate' } : { level: 'warn', msg: `no quorum: ${String(m.reason)}` }),
  [CHANNELS.leader]: (m) => ({ level: 'info', msg: m.leading === true ? 'this node coordinates' : `coordinator ${m.coordinator === undefined ? 'none' : `node ${String(m.coordinator)}`}` }),
  [CHANNELS.resource]: (m) => ({
    level: m.rc === 0 || (m.rc === 7 && (m.op === 'stop' || m.intervalMs === 0)) ? 'info' : 'warn',
    msg: `${String(m.op)}${(m.intervalMs as number) > 0 ? ` (every ${String(m.intervalMs)} ms)` : ''} rc ${String(m.rc)}${m.message === undefined ? '' : `: ${String(m.message)}`}`,
  }),
  [CHANNELS.cib]: (m) => ({ level: 'info', msg: `cib ${String(m.version)} (${String(m.cause)})` }),
  [CHANNELS.link]: (m) => ({ level: 'info', msg: `link ${String(m.link)}: ${(m.peers as { node: number; healthy: boolean }[]).map((p) => `node ${p.node} ${p.healthy ? 'up' : 'down'}`).join(', ')}` }),
  [CHANNELS.error]: (m) => ({ level: 'error', msg: String(m.message) }),
  [CHANNELS.admin]: (m) => ({ level: m.ok === true ? 'info' : 'warn', msg: `admin ${String(m.cmd)}${m.ok === true ? '' : ` refused (${String(m.code)})`}` }),
  [CHANNELS.alert]: (m) => ({ level: 'warn', msg: `alert ${String(m.alert)} failed: ${String(m.error)}` }),
};

/** Logs every channel's messages; returns the function that stops it. */
export function logDiagnostics(logger: Logger): () => void {
  const handlers: [string, (message: unknown) => void][] = [];
  for (const name of Object.values(CHANNELS)) {
    const handler = (message: unknown) => {
      const m = message as Message;
      const { level, msg } = LINES[name](m);
      const { cluster, node, view, epoch, resource } = m;
      // Only the fields that make a line readable alone; the rest is in msg.
      logger[level]({ cluster, node, view, epoch, ...(resource === undefined ? {} : { resource }), event: name.slice('sanode:'.length) }, msg);
    };
    subscribe(name, handler);
    handlers.push([name, handler]);
  }
  return () => {
    for (const [name, handler] of handlers) unsubscribe(name, handler);
  };
}

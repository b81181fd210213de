/**
 * `sanode agents list|describe`: like `crm ra list` and `pcs resource describe`. The shipped
 * agents describe themselves with OCF meta-data; installed OCF agents (Debian's resource-agents)
 * are found under OCF_ROOT and asked for theirs.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dummy, filesystem, ocf, processAgent, vip, DEFAULT_OCF_ROOT, type ResourceAgent } from '../../agents/index.js';
import { SanodeError } from '../errors/index.js';
import { childrenNamed, descendants, parseXml } from '../cib/xml.js';

const SHIPPED: Record<string, () => ResourceAgent<never>> = {
  vip: () => vip() as ResourceAgent<never>,
  process: () => processAgent() as ResourceAgent<never>,
  filesystem: () => filesystem() as ResourceAgent<never>,
  dummy: () => dummy() as ResourceAgent<never>,
};

export interface AgentEntry {
  readonly agent: string;
  readonly note?: string;
}

export function listAgents(ocfRoot = process.env['OCF_ROOT'] ?? DEFAULT_OCF_ROOT): AgentEntry[] {
  const out: AgentEntry[] = Object.keys(SHIPPED).map((t) => ({ agent: `sanode:${t}`, note: 'shipped with sanode' }));
  out.push({ agent: 'systemd:<unit>', note: 'any systemd unit (systemctl start/stop/is-active)' });
  out.push({ agent: 'lsb:<script>', note: 'any /etc/init.d script' });
  const base = join(ocfRoot, 'resource.d');
  let providers: string[] = [];
  try {
    providers = readdirSync(base).sort();
  } catch {
    out.push({ agent: 'ocf:<provider>:<type>', note: `no OCF agents installed under ${base} (Debian: apt install resource-agents)` });
  }
  for (const provider of providers) {
    for (const type of readdirSync(join(base, provider)).sort()) {
      const path = join(base, provider, type);
      const st = statSync(path, { throwIfNoEntry: false });
      if (st?.isFile() === true && (st.mode & 0o111) !== 0) out.push({ agent: `ocf:${provider}:${type}` });
    }
  }
  return out;
}

export interface AgentDescription {
  readonly agent: string;
  readonly shortdesc: string;
  readonly parameters: { name: string; required: boolean; shortdesc: string; default?: string }[];
  readonly actions: string[];
}

export async function describeAgent(spec: string): Promise<AgentDescription> {
  const parts = spec.split(':');
  let xml: string;
  if (parts[0] === 'sanode' && parts.length === 2 && SHIPPED[parts[1]!] !== undefined) {
    xml = await SHIPPED[parts[1]!]!().metaData!();
  } else if (parts[0] === 'ocf' && parts.length === 3) {
    xml = await ocf({ provider: parts[1]!, type: parts[2]! }).metaData!();
  } else {
    throw new SanodeError('SANODE_UNKNOWN_RESOURCE', `no agent '${spec}'; names are sanode:TYPE or ocf:PROVIDER:TYPE (see sanode agents list)`);
  }
  // OCF meta-data names its DTD; the CIB reader refuses DTDs (entity tricks), and none is needed to read it.
  const root = parseXml(xml.replace(/<!DOCTYPE[^>]*>/i, ''));
  const text = (el: { children: { name: string; text: string }[] } | undefined, name: string): string => el?.children.find((c) => c.name === name)?.text.trim() ?? '';
  return {
    agent: spec,
    shortdesc: text(root, 'shortdesc'),
    parameters: descendants(root, 'parameter').map((p) => {
      const content = childrenNamed(p, 'content')[0];
      return {
        name: p.attrs['name'] ?? '?',
        required: p.attrs['required'] === '1',
        shortdesc: text(p, 'shortdesc'),
        ...(content?.attrs['default'] === undefined ? {} : { default: content.attrs['default'] }),
      };
    }),
    actions: descendants(root, 'action').map((a) => a.attrs['name'] ?? '?'),
  };
}

export function formatDescription(d: AgentDescription): string {
  const lines = [`${d.agent}: ${d.shortdesc}`, '', 'Parameters:'];
  for (const p of d.parameters) lines.push(`  ${p.name}${p.required ? ' (required)' : ''}${p.default === undefined ? '' : ` [default ${p.default}]`}: ${p.shortdesc}`);
  if (d.actions.length > 0) lines.push('', `Actions: ${d.actions.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

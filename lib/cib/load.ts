/**
 * Reading sanode's JSON CIB format from text: a configuration file, and optionally a status
 * (state) file, into a validated Cib.
 *
 * Takes: file contents as strings (the caller reads the files) and a name to quote in errors.
 * Emits: a Cib, or a CibError naming the field at fault (`resources[2].agent.provider`, or
 * `json` with a line and column for a syntax error).
 * Must never: do I/O or return a Cib the scheduler could misread.
 *
 * A configuration file holds either a bare configuration `{ nodes, resources, constraints, ... }`
 * or a whole CIB `{ adminEpoch, epoch, numUpdates, config, status }` (what a running cluster
 * would save); a state file holds a status section `{ nodes: { <name>: { state, ... } } }`.
 */
import { emptyCib, type Cib, type CibConfig, type CibStatus } from './model.js';
import { CibError, validateConfig, validateStatus } from './validate.js';

/** Parses JSON, turning a syntax error into a CibError with a line and column. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8's message does not always carry a position; find the offending offset ourselves.
    const offset = jsonErrorOffset(text);
    const first = (error as Error).message.split('\n')[0]!.replace(/, "[\s\S]*$/, '');
    throw new CibError(undefined, 'json', `not valid JSON at ${lineColumn(text, offset)}: ${first}`);
  }
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/**
 * The offset where a JSON text stops being valid (text.length when it ends too early). Only run
 * after JSON.parse failed, so it need not build values.
 */
function jsonErrorOffset(text: string): number {
  let pos = 0;
  const bad = (): never => {
    throw pos;
  };
  const space = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos]!)) pos++;
  };
  const literal = (word: string): void => {
    for (const ch of word) if (text[pos++] !== ch) (pos--, bad());
  };
  const string = (): void => {
    pos++;
    while (pos < text.length && text[pos] !== '"') {
      if (text[pos] === '\\') pos++;
      else if (text.charCodeAt(pos) < 0x20) bad();
      pos++;
    }
    if (pos >= text.length) bad();
    pos++;
  };
  const value = (): void => {
    space();
    const ch = text[pos];
    if (ch === '{') {
      pos++;
      space();
      if (text[pos] === '}') return void pos++;
      for (;;) {
        space();
        if (text[pos] !== '"') bad();
        string();
        space();
        if (text[pos] !== ':') bad();
        pos++;
        value();
        space();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') return void pos++;
        else bad();
      }
    } else if (ch === '[') {
      pos++;
      space();
      if (text[pos] === ']') return void pos++;
      for (;;) {
        value();
        space();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') return void pos++;
        else bad();
      }
    } else if (ch === '"') string();
    else if (ch === 't') literal('true');
    else if (ch === 'f') literal('false');
    else if (ch === 'n') literal('null');
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos));
      if (m === null) bad();
      pos += m![0].length;
    }
  };
  try {
    value();
    space();
    return pos < text.length ? pos : text.length;
  } catch (at) {
    return Math.min(at as number, text.length);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A configuration file's contents (bare configuration or whole CIB) as a validated Cib. */
export function cibFromConfigText(text: string): Cib {
  const doc = parseJsonText(text);
  if (!isObject(doc)) throw new CibError(undefined, 'config', 'the file must hold a JSON object { nodes, resources, constraints }');
  let cib: Cib;
  if ('config' in doc) {
    const counter = (name: 'adminEpoch' | 'epoch' | 'numUpdates'): number => {
      const v = doc[name] ?? 0;
      if (!Number.isInteger(v) || (v as number) < 0) throw new CibError(undefined, name, 'must be a non-negative integer');
      return v as number;
    };
    if (!isObject(doc['config'])) throw new CibError(undefined, 'config', 'must be an object { nodes, resources, constraints }');
    const status = doc['status'] ?? { nodes: {} };
    cib = { adminEpoch: counter('adminEpoch'), epoch: counter('epoch'), numUpdates: counter('numUpdates'), config: doc['config'] as unknown as CibConfig, status: status as CibStatus };
  } else {
    cib = emptyCib(doc as unknown as CibConfig);
  }
  validateConfig(cib.config);
  validateStatus(cib.status, cib.config);
  return cib;
}

/** A state file's contents: a status section checked against the configuration. */
export function statusFromText(text: string, config: CibConfig): CibStatus {
  const doc = parseJsonText(text);
  // Accept a whole CIB too, so a saved cluster state can be replayed against another config.
  const status = isObject(doc) && 'status' in doc ? doc['status'] : doc;
  validateStatus(status as CibStatus, config);
  return status as CibStatus;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSanodeError } from '../../lib/errors/index.js';
import { parseXml } from '../../lib/cib/xml.js';

/** The CIB XML reader refuses what XML does not allow with a typed error, never a crash (issue 12, item 10). */
function refused(xml: string, message: RegExp): void {
  assert.throws(
    () => parseXml(xml),
    (error: unknown) => isSanodeError(error) && error.code === 'SANODE_INVALID_CIB' && message.test(error.message),
    JSON.stringify(xml),
  );
}

test('character references outside Unicode, to surrogates or to forbidden characters are SANODE_INVALID_CIB', () => {
  refused('<a x="&#x110000;"/>', /offset \d+: .*&#x110000;.*not a character XML allows/);
  refused('<a>&#1114112;</a>', /&#1114112;/);
  refused('<a>&#xD800;</a>', /&#xD800;/);
  refused('<a>&#0;</a>', /&#0;/);
  refused('<a>&#x99999999999999999999;</a>', /not a character/);
});

test('a lone surrogate or a forbidden control character in the text is SANODE_INVALID_CIB with its offset', () => {
  refused('<a>\uD800</a>', /offset 3: .*surrogate/);
  refused('<a x="\uDC00"/>', /offset 6: .*surrogate/);
  refused('<a>\u0001</a>', /offset 3: .*U\+0001/);
});

test('allowed characters and references still read, astral ones included', () => {
  assert.deepEqual(parseXml('<a x="&#x1F600;\u{1F600}&#9;">&#x10FFFF;&#xE000;</a>'), { name: 'a', attrs: { x: '\u{1F600}\u{1F600}\t' }, children: [], text: '\u{10FFFF}\uE000' });
});

test('nesting deeper than the reader allows is refused, not a stack overflow further on', () => {
  refused('<a>'.repeat(100_000), /nested deeper than 256/);
});

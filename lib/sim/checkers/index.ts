/** One instance of every guarantee checker, in a fixed order (the order violations are reported). */
import type { Checker } from '../types.js';
import { createAgreedOrderChecker } from './agreed-order.js';
import { createEpochMonotonicChecker } from './epoch-monotonic.js';
import { createIntegrityChecker } from './integrity.js';
import { createLeaderOverlapChecker } from './leader-overlap.js';
import { createLivenessChecker } from './liveness.js';
import { createSelfDeliveryChecker } from './self-delivery.js';
import { createSinglePartitionChecker } from './single-quorate-partition.js';
import { createViewAgreementChecker } from './view-agreement.js';
import { createVirtualSynchronyChecker } from './virtual-synchrony.js';

export interface CheckerOptions {
  /** twoNode clusters may be split-brained by design: no single-partition, no overlap, no epoch growth. */
  readonly twoNode?: boolean;
  /** Pauses beyond the configured bound happen: leader overlap is not guaranteed (docs/simulator.md). */
  readonly longPauses?: boolean;
}

export function createCheckers(options: CheckerOptions = {}): Checker[] {
  const checkers = [
    createViewAgreementChecker(),
    createIntegrityChecker(),
    createAgreedOrderChecker(),
    createVirtualSynchronyChecker(),
    createSelfDeliveryChecker(),
    createLivenessChecker(),
  ];
  const twoNode = options.twoNode === true;
  if (!twoNode) checkers.push(createSinglePartitionChecker());
  if (!twoNode && options.longPauses !== true) checkers.push(createLeaderOverlapChecker());
  checkers.push(createEpochMonotonicChecker({ growth: !twoNode }));
  return checkers;
}

export {
  createAgreedOrderChecker,
  createEpochMonotonicChecker,
  createIntegrityChecker,
  createLeaderOverlapChecker,
  createLivenessChecker,
  createSelfDeliveryChecker,
  createSinglePartitionChecker,
  createViewAgreementChecker,
  createVirtualSynchronyChecker,
};

/** One instance of every guarantee checker, in a fixed order (the order violations are reported). */
import type { Checker, RunBounds } from '../types.js';
import { createAgreedOrderChecker } from './agreed-order.js';
import { createEpochMonotonicChecker } from './epoch-monotonic.js';
import { createIntegrityChecker } from './integrity.js';
import { createLeaderOverlapChecker } from './leader-overlap.js';
import { createLivenessChecker } from './liveness.js';
import { createSelfDeliveryChecker } from './self-delivery.js';
import { createSinglePartitionChecker } from './single-quorate-partition.js';
import { createViewAgreementChecker } from './view-agreement.js';
import { createVirtualSynchronyChecker } from './virtual-synchrony.js';
import {
  createConvergenceChecker,
  createDurabilityChecker,
  createExclusivityChecker,
  createFailCountChecker,
  createFlappingChecker,
  createHandOffChecker,
  createResourceLivenessChecker,
} from './resources.js';

export interface CheckerOptions {
  /** twoNode clusters may be split-brained by design: no single-partition, no overlap, no epoch growth. */
  readonly twoNode?: boolean;
  /** Pauses beyond the configured bound happen: leader overlap is not guaranteed (docs/simulator.md). */
  readonly longPauses?: boolean;
  /** The run configures resources: add the resource and CIB checkers. */
  readonly resources?: boolean;
  readonly bounds?: RunBounds;
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
  if (options.resources === true && options.bounds !== undefined) {
    // twoNode halves both run everything by design (fencing is their protection). Past the pause
    // bound a frozen process's resources outlive its lease; only kernel-held ones (the VIP) are
    // still protected, by the kernel.
    if (!twoNode) checkers.push(createExclusivityChecker(options.longPauses === true ? { only: (rsc) => rsc === 'web-ip' } : {}));
    checkers.push(createConvergenceChecker(), createResourceLivenessChecker({ atLeastOnce: twoNode }));
    // Both halves of a twoNode split are quorate and may both write; the heal keeps one copy.
    if (!twoNode) checkers.push(createDurabilityChecker());
    if (!twoNode) checkers.push(createHandOffChecker(options.bounds));
    checkers.push(createFlappingChecker(options.bounds));
    // Both halves of a twoNode split write, and the heal keeps one copy: a clear may be lost with the other.
    if (!twoNode) checkers.push(createFailCountChecker());
  }
  return checkers;
}

export {
  createConvergenceChecker,
  createDurabilityChecker,
  createExclusivityChecker,
  createFailCountChecker,
  createFlappingChecker,
  createHandOffChecker,
  createResourceLivenessChecker,
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

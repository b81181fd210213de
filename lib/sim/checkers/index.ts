/** One instance of every guarantee checker, in a fixed order (the order violations are reported). */
import type { Checker } from '../types.js';
import { createAgreedOrderChecker } from './agreed-order.js';
import { createIntegrityChecker } from './integrity.js';
import { createLivenessChecker } from './liveness.js';
import { createSelfDeliveryChecker } from './self-delivery.js';
import { createViewAgreementChecker } from './view-agreement.js';
import { createVirtualSynchronyChecker } from './virtual-synchrony.js';

export function createCheckers(): Checker[] {
  return [
    createViewAgreementChecker(),
    createIntegrityChecker(),
    createAgreedOrderChecker(),
    createVirtualSynchronyChecker(),
    createSelfDeliveryChecker(),
    createLivenessChecker(),
  ];
}

export {
  createAgreedOrderChecker,
  createIntegrityChecker,
  createLivenessChecker,
  createSelfDeliveryChecker,
  createViewAgreementChecker,
  createVirtualSynchronyChecker,
};

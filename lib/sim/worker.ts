/**
 * Worker-thread entry for `--jobs`: receives seeds one at a time, runs each, posts the result.
 * The options arrive once as workerData; the worker holds no state between seeds besides the
 * loaded totem module.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTotem, runOneSeed, type RangeOptions } from './runner.js';

const port = parentPort;
if (port === null) throw new Error('lib/sim/worker.js must run as a worker thread');
const options = workerData as Omit<RangeOptions, 'seeds' | 'jobs'>;

try {
  const totem = await loadTotem(options.coreModule);
  port.on('message', (seed: number) => {
    try {
      port.postMessage({ result: runOneSeed(totem, seed, options) });
    } catch (err) {
      port.postMessage({ error: `seed ${seed}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
    }
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ error: err instanceof Error ? err.message : String(err) });
}

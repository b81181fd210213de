/**
 * The cluster-process fixture, plus this process's warnings as JSON lines
 * ({ev:'warning', name, code, message}): a condition a node reports while joinCluster is still
 * starting has no 'error' listener yet, so it arrives as a process warning (lib/runtime/cluster.ts).
 */
process.on('warning', (warning) => {
  const code = (warning as Error & { code?: unknown }).code;
  process.stdout.write(`${JSON.stringify({ ev: 'warning', name: warning.name, code, message: warning.message, atMs: Date.now() })}\n`);
});
await import('../helpers/cluster-process.js');

/** worker_threads entry for bench/layout.bench.ts: lays out one band per message, like the studio's layout workers. */
import { parentPort } from 'node:worker_threads';
import type { ElkNode } from 'elkjs/lib/elk-api';
import { layoutBand } from '../src/layout/band';

parentPort!.on('message', (graph: ElkNode) => {
  void layoutBand(graph).then((result) => parentPort!.postMessage(result));
});

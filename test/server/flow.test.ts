// InboundFlow: the main thread's view of a worker's backlog, and when a paused
// main thread must be woken. A second thread proves the wake-up is never lost.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { HIGH_WATER, InboundFlow, LOW_WATER } from '../../server/flow.js';

t.test('backlog is handed over minus processed, across u32 wrap-around', async (t) => {
  const flow = new InboundFlow();
  flow.received(100_000);
  t.equal(flow.backlog, 100_000);
  t.equal(flow.consumed(60_000), false, 'not paused: nobody to wake');
  t.equal(flow.backlog, 40_000);
  // Push both counters past 2^32: the difference stays exact.
  for (let i = 0; i < 70; i++) {
    flow.received(64 * 1024 * 1024);
    flow.consumed(64 * 1024 * 1024);
  }
  t.equal(flow.backlog, 40_000);
});

t.test('a paused main thread is woken once the backlog falls under LOW_WATER', async (t) => {
  const flow = new InboundFlow();
  flow.received(HIGH_WATER + 1);
  t.equal(flow.pause(), HIGH_WATER + 1, 'pause reports the backlog read after raising the flag');
  t.equal(flow.consumed(HIGH_WATER - LOW_WATER), false, 'still at LOW_WATER or above');
  t.equal(flow.consumed(2), true, 'under LOW_WATER: wake the main thread');
  flow.resume();
  t.equal(flow.consumed(LOW_WATER - 1), false, 'resumed: no more wake-ups');
});

t.test('two threads: every pause ends, by a wake-up or by the re-read in pause()', async (t) => {
  const flow = new InboundFlow();
  // The worker runs the compiled InboundFlow (npm test builds first), one byte at a time.
  const flowModule = new URL('../../dist/server/flow.js', import.meta.url).href;
  const code = `
    import { workerData, parentPort } from 'node:worker_threads';
    import { InboundFlow } from '${flowModule}';
    const flow = new InboundFlow(workerData);
    parentPort.on('message', (n) => {
      let woke = 0;
      for (let i = 0; i < n; i++) if (flow.consumed(1)) woke++;
      parentPort.postMessage(woke);
    });`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData: flow.buffer });
  let stuck = 0;
  for (let round = 0; round < 200; round++) {
    flow.received(HIGH_WATER);
    const done = new Promise<number>((resolve) => worker.once('message', resolve));
    worker.postMessage(HIGH_WATER);
    // Pause at a random moment while the worker drains.
    await new Promise((resolve) => setImmediate(resolve));
    const seen = flow.pause();
    const woke = await done;
    if (seen >= LOW_WATER && woke === 0) stuck++;
    flow.resume();
  }
  await worker.terminate();
  t.equal(stuck, 0, 'no round left the main thread paused with nobody to wake it');
});

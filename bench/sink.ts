/**
 * The least a central could do with the agencies' bytes: accept the
 * connections, append everything received to one file, sync it when a
 * connection ends. No threads, no protocol, no acks. The benchmark uses its
 * CPU in figure 1's lower bound.
 *
 *   node dist/bench/sink.js FILE CONNECTIONS
 *
 * Prints `port: N` once listening (with the CPU used so far, its start-up),
 * and `bytes: N cpu-ms: C boot-cpu-ms: B` when CONNECTIONS connections have ended.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';

const [path, countText] = process.argv.slice(2);
const expected = Number(countText);
if (!path || !Number.isInteger(expected) || expected < 1) {
  process.stderr.write('usage: sink FILE CONNECTIONS\n');
  process.exit(2);
}

const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

const fd = openSync(path, 'a');
let bytes = 0;
let ended = 0;
let bootCpuMs = 0;

const server = createServer((socket) => {
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) at += writeSync(fd, chunk, at);
  });
  socket.on('error', (error) => {
    process.stderr.write(`sink: ${error.message}\n`);
    process.exit(1);
  });
  socket.on('end', () => {
    fdatasyncSync(fd);
    socket.end();
    if (++ended === expected) {
      server.close();
      closeSync(fd);
      process.stdout.write(`bytes: ${bytes} cpu-ms: ${cpuMs().toFixed(0)} boot-cpu-ms: ${bootCpuMs.toFixed(0)}\n`);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  bootCpuMs = cpuMs();
  process.stdout.write(`port: ${(server.address() as AddressInfo).port}\n`);
});

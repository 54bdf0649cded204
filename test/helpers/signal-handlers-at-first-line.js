'use strict';
// Preloaded (node -r) into a child process by test/signal-ready.test.ts.
// Before the child's first write to stdout and to stderr (where it announces
// that it is ready, upon which a test may signal it at once), writes one JSON
// line to that stream saying how many SIGTERM and SIGINT listeners the child
// has at that moment.
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write;
  stream.write = function firstWrite(...args) {
    stream.write = write;
    write.call(stream, `${JSON.stringify({
      handlersAtFirstLine: { SIGTERM: process.listenerCount('SIGTERM'), SIGINT: process.listenerCount('SIGINT') },
    })}\n`);
    return write.apply(stream, args);
  };
}

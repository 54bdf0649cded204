// `bun bench/servers/bun-echo.js <port>`: the echo server in Bun's own socket
// API (Bun.listen), as a Bun user would write it. Prints `listening <port>`.
const port = Number(process.argv[2] ?? 0);
const server = Bun.listen({
  hostname: '127.0.0.1',
  port,
  socket: {
    data(socket, data) {
      // write() may take less than all of it; keep the rest for drain().
      const written = socket.write(data);
      if (written < data.length) {
        socket.data = socket.data ? Buffer.concat([socket.data, data.subarray(written)]) : data.subarray(written);
      }
    },
    drain(socket) {
      if (!socket.data) return;
      const pending = socket.data;
      const written = socket.write(pending);
      socket.data = written < pending.length ? pending.subarray(written) : undefined;
    },
    error() {},
  },
});
console.log(`listening ${server.port}`);
process.on('SIGTERM', () => process.exit(0));

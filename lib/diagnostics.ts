// node:net's diagnostics_channel messages, published at the same moments, so
// that APM tools subscribed to them (OpenTelemetry's net instrumentation among
// them) see reactor servers and sockets as they see net's. The channels are
// the ones node:net itself uses: subscribers get both implementations' events.
//
// What exists (read from lib/net.js of Node 20.20 and 24.22, the channel names
// compiled into Node 22.23 and 26.12, and Node's
// test-diagnostics-channel-net.js of 20.11, 23.9, 24.12, 25.8): 'net.client.socket',
// 'net.server.socket' and the tracing channel 'net.server.listen' (asyncStart,
// asyncEnd, error). There is no 'tracing:net.client.connect' on any of them.
import * as diagnosticsChannel from 'node:diagnostics_channel';

export const clientSocketChannel = diagnosticsChannel.channel('net.client.socket');
export const serverSocketChannel = diagnosticsChannel.channel('net.server.socket');
export const serverListenChannel = diagnosticsChannel.tracingChannel('net.server.listen');


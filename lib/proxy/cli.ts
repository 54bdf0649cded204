#!/usr/bin/env node
// `epoll-reactor proxy ...flags`: runs a Proxy until SIGTERM or SIGINT.
// Status goes to stderr as one JSON object per line, so that supervisors and
// tests can read it: {"listening":...}, {"stats":...}, {"shutdown":...},
// {"stopped":...}. A usage error prints a plain message and exits with 2.
import { isNative } from '../index';
import { parseProxyArgs, PROXY_USAGE, ProxyOptions, UsageError } from './options';
import { Proxy, ProxyStats } from './proxy';
import { ProxyThreads } from './threads';

/** Exit code for a usage error: 2, the convention of getopt-based tools and shell builtins. */
export const EXIT_USAGE = 2;
/** Exit code for a failure at run time (cannot listen, no reactor). */
export const EXIT_FAILURE = 1;

function printLine(record: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify(record)}\n`);
}

/** What the command runs: one Proxy, or one per reactor thread (--threads). */
interface ProxyService {
  start(): Promise<string>;
  stats(): ProxyStats | Promise<ProxyStats>;
  openConnections(): number | Promise<number>;
  stop(graceMs?: number): Promise<number>;
}

function singleThread(options: ProxyOptions): ProxyService {
  const proxy = new Proxy(options);
  return {
    start: () => proxy.start(),
    stats: () => proxy.stats(),
    openConnections: () => proxy.activeConnections,
    stop: (graceMs) => proxy.stop(graceMs),
  };
}

function severalThreads(options: ProxyOptions): ProxyService {
  const threads = new ProxyThreads(options);
  threads.on('thread-exit', (index: number, code: number | null, error?: Error) => {
    printLine({ threadExit: { thread: index, code, error: error?.message, restartInMs: 1000 } });
  });
  return threads;
}

function fail(message: string, code: number): void {
  process.stderr.write(`epoll-reactor proxy: ${message}\n`);
  process.exitCode = code;
}

/**
 * Runs the proxy subcommand with `argv` (the arguments after `proxy`).
 * Resolves once the proxy is listening (or has failed to start; then
 * `process.exitCode` is set). The process exits 0 after a graceful shutdown.
 *
 * @example
 * ```ts
 * // What bin/epoll-reactor.js does for `epoll-reactor proxy ...`:
 * main(['--listen', '127.0.0.1:8080', '--upstream', '127.0.0.1:9000']);
 * ```
 */
export async function main(argv: readonly string[]): Promise<void> {
  let options: ProxyOptions;
  try {
    const parsed = parseProxyArgs(argv);
    if (parsed.help) {
      process.stdout.write(PROXY_USAGE);
      return;
    }
    options = parsed.options;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message}\nRun 'epoll-reactor proxy --help' for usage.`, EXIT_USAGE);
    return;
  }
  if (!isNative) {
    fail('the native epoll reactor is not available on this platform (Linux only), and forward() needs it', EXIT_FAILURE);
    return;
  }

  // A supervisor that stops reading our stderr (EPIPE) must not take the
  // proxy down with an uncaught error: the status lines are lost, not the clients.
  process.stderr.on('error', () => {});
  const proxy = options.threads > 1 ? severalThreads(options) : singleThread(options);
  let address: string;
  try {
    address = await proxy.start();
  } catch (error) {
    fail(`cannot listen on ${describeListen(options)}: ${(error as Error).message}`, EXIT_FAILURE);
    return;
  }
  const statsTimer = options.statsIntervalMs > 0
    ? setInterval(() => void Promise.resolve(proxy.stats()).then((stats) => printLine({ stats })), options.statsIntervalMs)
    : undefined;
  // The stats timer alone must not keep a stopped proxy running.
  statsTimer?.unref();

  let shuttingDown = false;
  const onSignal = async (signal: NodeJS.Signals): Promise<void> => {
    if (shuttingDown) {
      // A second signal: do not wait out the grace period.
      void proxy.stop(0);
      printLine({ shutdown: { signal, graceMs: 0, open: await proxy.openConnections() } });
      return;
    }
    shuttingDown = true;
    const open = await proxy.openConnections();
    const stopped = proxy.stop();
    // Announce it after this tick, once the listener's close has been handed
    // to the reactor thread, so that a reader of the line rarely still finds
    // the port accepting.
    let announced = false;
    const announce = (): void => {
      if (announced) return;
      announced = true;
      printLine({ shutdown: { signal, graceMs: options.shutdownGraceMs, open } });
    };
    setImmediate(announce);
    void stopped.then(async (forced) => {
      // With nothing open the stop is done before that immediate: the line comes first all the same.
      announce();
      if (statsTimer !== undefined) clearInterval(statsTimer);
      printLine({ stopped: { closedAtDeadline: forced, stats: await proxy.stats() } });
      // stderr is a pipe or a file here, and both are written synchronously
      // on Linux, so nothing printed above is lost by exiting now.
      process.exit(0);
    });
  };
  // The handlers go in before the listening line: whoever reads that line
  // may signal at once, and without a handler the signal kills the process.
  process.on('SIGTERM', (signal) => void onSignal(signal));
  process.on('SIGINT', (signal) => void onSignal(signal));
  printLine(options.threads > 1 ? { listening: address, threads: options.threads } : { listening: address });
}

function describeListen(options: ProxyOptions): string {
  const listen = options.listen;
  return 'path' in listen ? listen.path : `${listen.host}:${listen.port}`;
}

if (require.main === module) {
  void main(process.argv.slice(2));
}

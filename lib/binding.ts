// The one place that loads the native addon.
import * as path from 'node:path';

/** The native reactor as the addon exposes it (src-native/reactor.h). */
export interface NativeReactor {
  listen(family: 0 | 4 | 6, address: string, port: number, backlog: number, ipv6Only: boolean):
    [id: number, address: string, port: number] | [errno: number, syscall: string];
  closeListener(id: number): void;
  write(id: number, data: Uint8Array | string): number;
  shutdown(id: number): void;
  close(id: number): void;
  pause(id: number): void;
  resume(id: number): void;
  ack(id: number, bytes: number): void;
  flush(): void;
  ref(): void;
  unref(): void;
}

export type BatchDispatcher = (records: Float64Array, chunks: ArrayBuffer[], strings: string[]) => void;

export interface NativeReactorOptions {
  readBudgetPerTurn?: number;
  unackedCapPerSocket?: number;
  unackedCapTotal?: number;
  shortReadDrains?: boolean;
}

interface NativeBinding {
  available: boolean;
  Reactor?: new (dispatch: BatchDispatcher, options?: NativeReactorOptions) => NativeReactor;
}

const addonPath = path.join(__dirname, '..', 'build', 'Release', 'epoll_reactor.node');

function load(): NativeBinding {
  if (process.platform !== 'linux') return { available: false };
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(addonPath) as NativeBinding;
  } catch (cause) {
    const error = new Error(
      `epoll-reactor: could not load the native reactor from ${addonPath}.\n` +
        'Build it with `npm rebuild epoll-reactor` (needs python3, make and a C++17 compiler), ' +
        'or run `npm install` again in the package folder.',
    );
    (error as Error & { cause: unknown }).cause = cause;
    throw error;
  }
}

export const binding: NativeBinding = load();

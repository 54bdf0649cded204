// The options node runs with, as node itself reads them: on its command
// line (process.execArgv) or in NODE_OPTIONS, the command line winning.
// node's own reader (getOptionValue) is internal.

/** The value of a node option given as `--name=value` or `--name value`: the last given, as node takes it. */
export function nodeOptionValue(name: string, execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string | undefined {
  let value: string | undefined;
  for (const args of [nodeOptions.split(/\s+/).filter(Boolean), execArgv]) {
    for (let i = 0; i < args.length; i++) {
      if (args[i].startsWith(`${name}=`)) value = args[i].slice(name.length + 1);
      else if (args[i] === name && i + 1 < args.length) value = args[++i];
    }
  }
  return value || undefined;
}

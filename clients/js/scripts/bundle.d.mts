import type { BuildOptions } from 'esbuild';

/** The browser bundle's esbuild settings, with extra ones merged in. */
export function options(extra?: BuildOptions): BuildOptions;
/** Writes the bundle and its source map; resolves to the bundle's path. */
export function bundle(outfile?: string): Promise<string>;

// Builds the real sessiond binary once for all test files.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

import { REPO_ROOT } from './paths.js';

let dir = '';

export async function setup(project: TestProject): Promise<void> {
  let binary = process.env['SESSIOND_BINARY'] ?? '';
  if (!binary) {
    dir = mkdtempSync(join(tmpdir(), 'sessiond-sdk-bin-'));
    binary = join(dir, 'sessiond');
    try {
      await promisify(execFile)('go', ['build', '-o', binary, '.'], { cwd: REPO_ROOT, timeout: 240_000, maxBuffer: 16 << 20 });
    } catch (err) {
      const e = err as { message: string; stderr?: string };
      throw new Error(`go build failed: ${e.message}\n${e.stderr ?? ''}`);
    }
  }
  project.provide('sessiondBinary', binary);
}

export function teardown(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    sessiondBinary: string;
  }
}

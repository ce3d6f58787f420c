/**
 * Creates the ONNX Runtime session for the configured device. CUDA is never a silent fallback:
 * if its execution provider is not installed, start-up fails and says how to install it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { InferenceSession } from 'onnxruntime-node';

export interface SessionOptions {
  device: 'cpu' | 'cuda';
  /** Threads inside one operator; 0 lets ONNX Runtime choose. */
  intraOpThreads: number;
  /** Threads spin while waiting for work (ONNX Runtime's default) rather than sleep. */
  spinWait?: boolean;
}

/** Where onnxruntime-node keeps its native libraries, and so where the CUDA provider must be. */
function bindingDir(): string {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = path.join(root, 'bin');
  const napi = fs.readdirSync(bin).find((d) => d.startsWith('napi-v')) ?? '';
  return path.join(bin, napi, os.platform(), os.arch());
}

export const CUDA_INSTALL_HELP =
  'DEVICE=cuda needs the CUDA execution provider of onnxruntime-node, which this install skipped ' +
  '(package.json: allowScripts denies its download). Install it with ' +
  '`ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js` ' +
  '(or build the CUDA image from the Dockerfile), with CUDA 12 and cuDNN 9 on the machine; or set DEVICE=cpu.';

export function cudaProviderInstalled(): boolean {
  return fs.existsSync(path.join(bindingDir(), 'libonnxruntime_providers_cuda.so'));
}

export async function createSession(modelPath: string, options: SessionOptions): Promise<InferenceSession> {
  if (options.device === 'cuda' && !cudaProviderInstalled()) throw new Error(CUDA_INSTALL_HELP);
  return InferenceSession.create(modelPath, {
    executionProviders: [options.device === 'cuda' ? 'cuda' : 'cpu'],
    graphOptimizationLevel: 'all',
    ...(options.intraOpThreads > 0 ? { intraOpNumThreads: options.intraOpThreads } : {}),
    interOpNumThreads: 1,
    // Measured with `npm run load` (API and worker in one process on 2 cores): without spinning,
    // API latencies roughly halve and batched decoding is a little faster.
    extra: { session: { intra_op: { allow_spinning: options.spinWait ? '1' : '0' } } },
  });
}

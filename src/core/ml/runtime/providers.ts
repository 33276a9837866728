// Execution-provider choice: CUDA -> DirectML -> CoreML -> CPU, limited to what this platform's
// onnxruntime-node build has, each tried in order with the reason for every skip recorded, because a silent
// CPU fallback is the most reported bug of comparable tools.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { InferenceHost, ProviderFallback, ProviderStatus } from './types';

/** Preference order, ONNX Runtime names. */
export const PROVIDER_ORDER = ['cuda', 'dml', 'coreml', 'cpu'] as const;
/** Comma-separated provider list that overrides the default order, e.g. "cpu" or "cuda,cpu". */
export const PROVIDERS_ENV = 'DIFFLABEL_EXECUTION_PROVIDERS';

const LABEL: Record<string, string> = { cuda: 'CUDA', dml: 'DirectML', coreml: 'CoreML', cpu: 'CPU' };
const label = (p: string) => LABEL[p] ?? p;

/** Providers this onnxruntime-node build knows, with whether their libraries ship inside the package. */
export function buildBackends(): Map<string, { bundled: boolean }> {
  return new Map(ort.listSupportedBackends().map((b) => [b.name, { bundled: b.bundled }]));
}

/**
 * The provider list to try: explicit option, else the env variable, else the default order limited to the providers
 * this machine has the libraries for. A provider whose libraries were never installed (CUDA, by default on Linux) is
 * not expected, so running on CPU without it is no fallback; named explicitly, it is tried and its absence reported.
 */
export function requestedProviders(explicit?: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = env[PROVIDERS_ENV]?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const list = explicit?.length ? [...explicit] : fromEnv?.length ? fromEnv : null;
  if (list) return list;
  const backends = buildBackends();
  return PROVIDER_ORDER.filter((p) => staticProviderProblem(p, backends) === null);
}

function bindingDir(): string {
  const req = createRequire(import.meta.url);
  const pkg = dirname(req.resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

/** Shared libraries ONNX Runtime dlopens for a non-bundled provider. */
function providerLibraries(provider: string): string[] {
  const [pre, ext] = process.platform === 'win32' ? ['', '.dll'] : process.platform === 'darwin' ? ['lib', '.dylib'] : ['lib', '.so'];
  return [`${pre}onnxruntime_providers_shared${ext}`, `${pre}onnxruntime_providers_${provider}${ext}`];
}

/**
 * Why a provider cannot be used before even trying to create a session with it, or null if it may work.
 * Checking first avoids ONNX Runtime's noisy load errors and gives the user an actionable reason.
 */
export function staticProviderProblem(provider: string, backends = buildBackends()): string | null {
  const b = backends.get(provider);
  if (!b) return `${label(provider)} is not available in this onnxruntime-node build for ${process.platform}/${process.arch}`;
  if (b.bundled) return null;
  const dir = bindingDir();
  const missing = providerLibraries(provider).filter((f) => !existsSync(join(dir, f)));
  if (missing.length) {
    const hint =
      provider === 'cuda'
        ? '; install it (needs CUDA 12 and cuDNN 9) with: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js'
        : '';
    return `${label(provider)} provider library not found (${missing.join(', ')} in ${dir})${hint}`;
  }
  return null;
}

/**
 * Create something (a session) with the first provider that works. `create` is called with one provider at a
 * time; `knownBad` caches static failures so later sessions skip them without retrying (still reported).
 */
export async function createWithFallback<T>(
  requested: readonly string[],
  create: (provider: string) => Promise<T>,
  knownBad: Map<string, string> = new Map(),
): Promise<{ value: T; status: ProviderStatus }> {
  const fallbacks: ProviderFallback[] = [];
  const backends = buildBackends();
  for (const provider of requested) {
    let reason = knownBad.get(provider) ?? staticProviderProblem(provider, backends);
    if (reason !== null) {
      knownBad.set(provider, reason);
      fallbacks.push({ provider, reason });
      continue;
    }
    try {
      const value = await create(provider);
      return { value, status: { requested: [...requested], active: provider, fallbacks } };
    } catch (e) {
      // CPU always exists: its failure is the model's fault (corrupt file, unsupported op), not a provider's.
      if (provider === 'cpu') throw e;
      reason = `${label(provider)} failed to start: ${(e as Error).message}`;
      fallbacks.push({ provider, reason });
    }
  }
  const why = fallbacks.map((f) => `${f.provider}: ${f.reason}`).join('; ');
  throw new Error(`no execution provider could be started (requested ${requested.join(', ') || 'none'}): ${why}`);
}

/**
 * The provider a new session would get, judged without loading a model: the first requested one with no
 * static problem, and why each before it was skipped. Sessions report what actually happened.
 */
export function expectedProviderStatus(explicit?: readonly string[]): ProviderStatus {
  const requested = requestedProviders(explicit);
  const backends = buildBackends();
  const fallbacks: ProviderFallback[] = [];
  for (const provider of requested) {
    const reason = staticProviderProblem(provider, backends);
    if (reason === null) return { requested, active: provider, fallbacks };
    fallbacks.push({ provider, reason });
  }
  return { requested, active: 'none', fallbacks };
}

/**
 * One status for several sessions: every provider they run on (joined with '+', in request order, when they
 * differ, e.g. a UNet that fell back to CPU beside a VAE on CUDA) and each fallback reason once. Null for none.
 */
export function summarizeProviders(requested: readonly string[], sessions: readonly ProviderStatus[]): ProviderStatus | null {
  if (!sessions.length) return null;
  const active = [...new Set(sessions.map((s) => s.active))].sort((a, b) => requested.indexOf(a) - requested.indexOf(b));
  const fallbacks = new Map<string, ProviderFallback>();
  for (const f of sessions.flatMap((s) => s.fallbacks)) fallbacks.set(`${f.provider}\n${f.reason}`, f);
  return { requested: [...requested], active: active.join('+'), fallbacks: [...fallbacks.values()] };
}

/** What inference runs on: what `host`'s sessions got, or, before any session was created, the expectation. */
export function runtimeStatus(host: InferenceHost | null): ProviderStatus {
  return host?.providerStatus() ?? expectedProviderStatus();
}

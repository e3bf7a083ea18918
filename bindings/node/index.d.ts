// Types of Airlock's Node.js binding (index.js). See docs/SDK.md.

export class AirlockError extends Error {
  /** The check or denial code (the same as runtime-verify's), or usage, io, internal. */
  readonly code: string;
  /** 402 for a closed gate, 403 for a refused check, 400 or 500 for an error. */
  readonly httpStatus: number;
  readonly detail: string;
}
export class Rejected extends AirlockError {}
export class Denied extends AirlockError {}
export class UsageError extends AirlockError {}

export interface Activation {
  kind: 'none' | 'missing' | 'lease' | 'floating' | 'refused';
  [key: string]: unknown;
}

export class Status {
  readonly state: string;
  readonly warnings: string[];
  readonly license: Record<string, unknown>;
  readonly activation: Activation;
  readonly data: Record<string, unknown>;
  feature(name: string): void;
  allows(name: string): boolean;
  limit(name: string, inUse: number): void;
}

export function check(o: {
  trust: string; licenseDir: string; stateDir: string; root?: string | null; now?: number;
}): Status;
export function verify(o: {
  kind: 'trust' | 'license' | 'revocations' | 'product-manifest' | 'bundle-manifest' | 'bundle';
  trust: string; root: string; doc: string; sig?: string | null; at?: number; context?: string | null;
}): Record<string, unknown>;
export function verifyBundle(o: {
  bundle: string; trust: string; stateDir: string; sig?: string | null; root?: string | null;
  extractDir?: string | null; now?: number;
}): Record<string, unknown>;
export function importRevocations(o: {
  list: string; trust: string; stateDir: string; sig?: string | null; root?: string | null; now?: number;
}): void;
export function version(): string;

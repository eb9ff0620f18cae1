import { RegistryError } from './errors.js';

/**
 * An image reference split into the parts the distribution API addresses:
 * `127.0.0.1:5000/team/cache:main` or `registry.example/team/cache@sha256:...`.
 */
export interface ImageReference {
  /** Host and optional port as written (`127.0.0.1:5000`, `[::1]:5000`, `docker.io`). */
  registry: string;
  /** Repository path inside the registry (`team/cache`). */
  repository: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

// Docker's reference grammar: lower-case path components joined by '.', '_', '__' or runs of '-'.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;
const MAX_REFERENCE_LENGTH = 4096;
const DEFAULT_REGISTRY = 'docker.io';

/** Parses a reference; a reference without a tag or digest gets `latest`, like the docker CLI. */
export function parseReference(input: string): ImageReference {
  const fail = (reason: string): never => {
    throw new RegistryError('INVALID_REFERENCE', { op: 'parse reference', registry: input }, reason);
  };
  if (input.length === 0 || input.length > MAX_REFERENCE_LENGTH) fail('must be 1 to 4096 characters');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail(`digest ${JSON.stringify(digest)} is not sha256:<64 lower-case hex>`);
  }
  let registry = DEFAULT_REGISTRY;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    // As in docker: the first component is a host when it has a dot, a port, or is localhost.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[')) {
      registry = first;
      rest = rest.slice(slash + 1);
      if (!HOST.test(registry)) fail(`registry host ${JSON.stringify(registry)} is not a valid host[:port]`);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag ${JSON.stringify(tag)} must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  if (rest.length === 0) fail('the repository name is empty');
  const components = rest.split('/');
  for (const c of components) {
    if (!PATH_COMPONENT.test(c)) fail(`repository component ${JSON.stringify(c)} must be lower-case [a-z0-9._-]`);
  }
  const repository = registry === DEFAULT_REGISTRY && components.length === 1 ? `library/${rest}` : rest;
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** The tag or digest a manifest request addresses; the digest wins when both are given. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** Host name without port or brackets. */
export function hostName(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon >= 0 ? registry.slice(0, colon) : registry;
}

/** Loopback hosts are the only ones spoken to over plain HTTP without `insecure: true`. */
export function isLoopback(registry: string): boolean {
  const host = hostName(registry).toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The base URL of the registry's API: Docker Hub's API lives on its own host. */
export function registryBaseUrl(registry: string, plainHttp: boolean): string {
  const host = registry === DEFAULT_REGISTRY ? 'registry-1.docker.io' : registry;
  return `${plainHttp ? 'http' : 'https'}://${host}`;
}

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

export { RegistryClient, fileBlobSource, bufferBlobSource, type RegistryClientOptions } from './client.js';
export type { TransportOptions } from './transport.js';
export type { BlobSource, PushOutcome, PushResult } from './blob-upload.js';
export type { BlobPushOptions, BlobStat } from './blobs.js';
export type { FetchedManifest, ManifestStat } from './manifests.js';
export { parseManifest } from './manifests.js';
export { RegistryError, isRegistryError, type RegistryErrorCode, type RegistryErrorContext } from './errors.js';
export {
  parseReference,
  formatReference,
  manifestReference,
  isLoopback,
  isDigest,
  type ImageReference,
} from './reference.js';
export { resolveCredentials, parseChallenge, type Credentials, type CredentialOptions } from './credentials.js';
export {
  descriptorSchema,
  imageManifestSchema,
  OCI_MANIFEST_MEDIA_TYPE,
  OCI_EMPTY_MEDIA_TYPE,
  MAX_MANIFEST_BYTES,
  type Descriptor,
  type ImageManifest,
} from './schemas.js';
export { VerifyStream, sha256Digest } from './verify.js';

import { z } from 'zod';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';

/** Registries and clients cap what they will parse; a manifest past 4 MiB is refused by most registries. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Error bodies, token answers and status documents are small; anything larger is not what we asked for. */
export const MAX_SMALL_JSON_BYTES = 1024 * 1024;

const digestSchema = z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'not an OCI digest');
const sha256Schema = z.string().regex(/^sha256:[a-f0-9]{64}$/, 'not a sha256 digest');
const mediaTypeSchema = z
  .string()
  .regex(/^[A-Za-z0-9][\w!#$&^.+-]{0,126}\/[A-Za-z0-9][\w!#$&^.+-]{0,126}$/, 'not a media type (type/subtype)');
const annotationsSchema = z.record(z.string(), z.string());

/** An OCI content descriptor; we only move sha256 content, so other algorithms are refused. */
export const descriptorSchema = z.object({
  mediaType: mediaTypeSchema,
  digest: sha256Schema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotationsSchema.optional(),
  artifactType: mediaTypeSchema.optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

/** The OCI image manifest (image-spec v1.1), the one form every registry accepts. */
export const imageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(OCI_MANIFEST_MEDIA_TYPE),
  artifactType: mediaTypeSchema.optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).max(10_000),
  subject: descriptorSchema.optional(),
  annotations: annotationsSchema.optional(),
});
export type ImageManifest = z.infer<typeof imageManifestSchema>;

/** The distribution spec's error body: `{"errors":[{"code":"BLOB_UNKNOWN","message":"..."}]}`. */
export const errorBodySchema = z.object({
  errors: z
    .array(z.object({ code: z.string(), message: z.string().optional(), detail: z.unknown().optional() }))
    .max(100),
});

/** A token endpoint's answer; `token` and `access_token` are both in use. */
export const tokenResponseSchema = z
  .object({
    token: z.string().min(1).optional(),
    access_token: z.string().min(1).optional(),
    expires_in: z.number().int().positive().optional(),
  })
  .refine((t) => t.token !== undefined || t.access_token !== undefined, 'has neither token nor access_token');
export type TokenResponse = z.infer<typeof tokenResponseSchema>;

/** The part of `~/.docker/config.json` we read: `auths.<host>.auth` is base64 of `user:password`. */
export const dockerConfigSchema = z.object({
  auths: z
    .record(
      z.string(),
      z.object({
        auth: z.string().optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        identitytoken: z.string().optional(),
      }),
    )
    .optional(),
});
export type DockerConfig = z.infer<typeof dockerConfigSchema>;

export { digestSchema, sha256Schema };

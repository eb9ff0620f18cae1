import { fileURLToPath } from 'node:url';
import {
  type Client,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** The vendored .proto files; read at run time, so they ship with the package (see proto/README.md). */
export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

/** containerd reads the namespace of every call from this metadata key. */
export const NAMESPACE_HEADER = 'containerd-namespace';
/** Snapshots created or committed in a call carrying this header are added to that lease. */
export const LEASE_HEADER = 'containerd-lease';

export interface ProtoTimestamp {
  seconds: number;
  nanos: number;
}

export interface ProtoMount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

export type ProtoKind = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';

export interface ProtoInfo {
  name: string;
  parent: string;
  kind: ProtoKind;
  createdAt: ProtoTimestamp | null;
  updatedAt: ProtoTimestamp | null;
  labels: Record<string, string>;
}

export interface ProtoLease {
  id: string;
  createdAt: ProtoTimestamp | null;
  labels: Record<string, string>;
}

export interface ProtoResource {
  id: string;
  type: string;
}

/** Request and response shapes of the unary calls we make, by service and method. */
export interface SnapshotsCalls {
  Prepare: [
    { snapshotter: string; key: string; parent: string; labels: Record<string, string> },
    { mounts: ProtoMount[] },
  ];
  View: [
    { snapshotter: string; key: string; parent: string; labels: Record<string, string> },
    { mounts: ProtoMount[] },
  ];
  Mounts: [{ snapshotter: string; key: string }, { mounts: ProtoMount[] }];
  Commit: [{ snapshotter: string; name: string; key: string; labels: Record<string, string> }, object];
  Remove: [{ snapshotter: string; key: string }, object];
  Stat: [{ snapshotter: string; key: string }, { info: ProtoInfo }];
  Update: [
    { snapshotter: string; info: Partial<ProtoInfo> & { name: string }; updateMask: { paths: string[] } | null },
    { info: ProtoInfo },
  ];
  Usage: [{ snapshotter: string; key: string }, { size: number; inodes: number }];
  Cleanup: [{ snapshotter: string }, object];
}

export interface LeasesCalls {
  Create: [{ id: string; labels: Record<string, string> }, { lease: ProtoLease }];
  Delete: [{ id: string; sync: boolean }, object];
  List: [{ filters: string[] }, { leases: ProtoLease[] }];
  AddResource: [{ id: string; resource: ProtoResource }, object];
  DeleteResource: [{ id: string; resource: ProtoResource }, object];
  ListResources: [{ id: string }, { resources: ProtoResource[] }];
}

export interface CallOptions {
  namespace: string;
  /** Adds what the call creates to this lease. */
  lease?: string;
  /** Milliseconds until the call is abandoned with DEADLINE_EXCEEDED. */
  timeoutMs: number;
  signal?: AbortSignal;
}

type UnaryMethod = (
  req: unknown,
  md: Metadata,
  opts: { deadline: Date },
  cb: (err: ServiceError | null, res: unknown) => void,
) => ClientUnaryCall;
type StreamMethod = (req: unknown, md: Metadata, opts: { deadline: Date }) => ClientReadableStream<unknown>;

let services: { snapshots: ServiceClientConstructor; leases: ServiceClientConstructor } | undefined;

/** Loads the vendored protos once per process. */
function loadServices(): NonNullable<typeof services> {
  if (services) return services;
  const def = loadSync(['services/snapshots/v1/snapshots.proto', 'services/leases/v1/leases.proto'], {
    includeDirs: [PROTO_DIR],
    longs: Number,
    enums: String,
    defaults: true,
  });
  const root = loadPackageDefinition(def);
  const pick = (path: string): ServiceClientConstructor => {
    let at: unknown = root;
    for (const part of path.split('.')) at = (at as GrpcObject)[part];
    return at as ServiceClientConstructor;
  };
  services = {
    snapshots: pick('containerd.services.snapshots.v1.Snapshots'),
    leases: pick('containerd.services.leases.v1.Leases'),
  };
  return services;
}

/** `/run/x.sock` and `unix:///run/x.sock` both name a unix socket; anything with a scheme is passed through. */
export function grpcTarget(address: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(address)) return address;
  return `unix://${address}`;
}

/** An aborted call: rejects with the signal's reason, as other abortable Node APIs do. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

/**
 * One gRPC channel to a containerd socket with typed unary and streaming calls.
 * grpc-js reconnects by itself; the backoff is kept short so a restarted daemon is
 * picked up within about a second, and calls are not queued while it is down
 * (they fail at once with UNAVAILABLE instead).
 */
export class ContainerdRpc {
  private readonly snapshots: Client;
  private readonly leases: Client;

  constructor(readonly address: string) {
    const { snapshots, leases } = loadServices();
    const options = {
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      'grpc.min_reconnect_backoff_ms': 100,
      // containerd's default limit; lists of many snapshots come in one message.
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
    };
    const target = grpcTarget(address);
    this.snapshots = new snapshots(target, credentials.createInsecure(), options);
    // Both clients share one channel: grpc-js pools channels by target and options.
    this.leases = new leases(target, credentials.createInsecure(), options);
  }

  snapshot<M extends keyof SnapshotsCalls>(
    method: M,
    req: SnapshotsCalls[M][0],
    opts: CallOptions,
  ): Promise<SnapshotsCalls[M][1]> {
    return this.unary(this.snapshots, method, req, opts) as Promise<SnapshotsCalls[M][1]>;
  }

  lease<M extends keyof LeasesCalls>(method: M, req: LeasesCalls[M][0], opts: CallOptions): Promise<LeasesCalls[M][1]> {
    return this.unary(this.leases, method, req, opts) as Promise<LeasesCalls[M][1]>;
  }

  /** Snapshots.List is a server stream; this collects every batch. */
  listSnapshots(snapshotter: string, filters: string[], opts: CallOptions): Promise<ProtoInfo[]> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(abortReason(opts.signal));
      const fn = (this.snapshots as unknown as Record<string, StreamMethod>).list!.bind(this.snapshots);
      const call = fn({ snapshotter, filters }, this.metadata(opts), { deadline: deadline(opts) });
      const out: ProtoInfo[] = [];
      const onAbort = () => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (batch: { info: ProtoInfo[] }) => out.push(...batch.info));
      call.on('error', (err: ServiceError) => {
        opts.signal?.removeEventListener('abort', onAbort);
        reject(err.code === status.CANCELLED && opts.signal?.aborted ? abortReason(opts.signal) : err);
      });
      call.on('end', () => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(out);
      });
    });
  }

  close(): void {
    this.snapshots.close();
    this.leases.close();
  }

  private metadata(opts: CallOptions): Metadata {
    const md = new Metadata();
    md.set(NAMESPACE_HEADER, opts.namespace);
    if (opts.lease !== undefined) md.set(LEASE_HEADER, opts.lease);
    return md;
  }

  private unary(client: Client, method: string, req: unknown, opts: CallOptions): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(abortReason(opts.signal));
      // proto-loader exposes each method under its original and its lower-camel-case name.
      const fn = (client as unknown as Record<string, UnaryMethod>)[method]!.bind(client);
      const onAbort = () => call.cancel();
      const call = fn(req, this.metadata(opts), { deadline: deadline(opts) }, (err, res) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (!err) return resolve(res);
        reject(err.code === status.CANCELLED && opts.signal?.aborted ? abortReason(opts.signal) : err);
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function deadline(opts: CallOptions): Date {
  return new Date(Date.now() + opts.timeoutMs);
}

export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'metadata' in err;
}

export function timestampToDate(ts: ProtoTimestamp | null): Date {
  if (!ts) return new Date(0);
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6));
}

export { status as GrpcStatus };

// Type declarations for mags-sdk (CommonJS: `const Mags = require('mags-sdk')`,
// `const { Mags, MagsError } = require('mags-sdk')`; ESM: see index.d.mts).
//
// Results are the API's JSON plus camelCase aliases of the snake_case
// top-level keys; the interfaces list both spellings of the documented keys
// and allow any other key. Durations in options are milliseconds.

declare class Mags {
  /**
   * @param options.apiToken default: MAGS_API_TOKEN, MAGS_TOKEN, then api_token in ~/.mags/config.json
   * @param options.apiUrl server base URL without /api/v1; default: MAGS_API_URL,
   *   api_url in ~/.mags/config.json, then http://127.0.0.1:8420
   * @param options.timeout per-request timeout in ms (default 30000)
   * @throws {Mags.MagsError} when no token can be found
   */
  constructor(options?: Mags.MagsOptions);

  readonly apiToken: string;
  apiUrl: string;
  timeout: number;

  /** Submit a job (returns immediately). */
  run(script: string, options?: Mags.RunOptions): Promise<Mags.SubmitResult>;
  /** Submit and block until done. */
  runAndWait(script: string, options?: Mags.RunAndWaitOptions): Promise<Mags.RunResult>;
  /** Submit and stream the output as it is written. */
  runStream(script: string, options?: Mags.RunOptions & { idleTimeout?: number }): Promise<Mags.LogStream>;
  /** Follow a job's logs until it ends. */
  streamLogs(requestId: string, options?: { idleTimeout?: number; maxReconnects?: number }): Mags.LogStream;
  /** Create a VM sandbox and wait until it is running. */
  new(name: string, options?: Mags.NewOptions): Promise<Mags.Job>;
  /** Run a command on an existing sandbox. */
  exec(nameOrId: string, command: string, options?: { timeout?: number; env?: Record<string, string> }): Promise<Mags.ExecResult>;
  /** Run a command on an existing sandbox, streaming its output. */
  execStream(nameOrId: string, command: string, options?: { timeout?: number; env?: Record<string, string> }): Promise<Mags.ExecStream>;
  /** Stop a running job (request ID, name or workspace). */
  stop(nameOrId: string): Promise<Mags.Job>;
  /** Find a job by request ID, or a running/sleeping one by name or workspace. */
  findJob(nameOrId: string): Promise<Mags.Job | null>;
  /** Enable public URL access (default port 8080). */
  url(nameOrId: string, port?: number): Promise<Mags.AccessResult>;
  /** Stop the workspace's job if any, then create a persistent sandbox with diskGb. */
  resize(workspace: string, diskGb: number, options?: { timeout?: number; pollInterval?: number }): Promise<Mags.Job>;
  status(requestId: string): Promise<Mags.Job>;
  logs(requestId: string): Promise<Mags.LogsResult>;
  list(options?: { page?: number; pageSize?: number }): Promise<Mags.JobList>;
  listJobs(options?: { page?: number; pageSize?: number }): Promise<Mags.JobList>;
  updateJob(requestId: string, opts: { noSleep?: boolean; startupCommand?: string; idleTimeout?: number | null; [key: string]: unknown }): Promise<Mags.ApiObject>;
  /** Port 22: SSH credentials; other ports: a URL. */
  enableAccess(requestId: string, port?: number): Promise<Mags.AccessResult>;
  sync(requestId: string): Promise<Mags.ApiObject>;
  whoami(): Promise<Mags.ApiObject>;
  /** Upload a file; resolves to its file ID (for `fileIds`). */
  uploadFile(path: string): Promise<string>;
  uploadFiles(paths: string[]): Promise<string[]>;
  listWorkspaces(): Promise<Mags.WorkspaceList>;
  deleteWorkspace(workspaceId: string): Promise<Mags.ApiObject>;
  urlAliasCreate(subdomain: string, workspaceId: string): Promise<Mags.ApiObject>;
  urlAliasList(): Promise<Mags.ApiObject>;
  urlAliasDelete(subdomain: string): Promise<Mags.ApiObject>;
  cronCreate(options: Mags.CronCreateOptions): Promise<Mags.CronJob>;
  cronList(): Promise<Mags.CronList>;
  cronGet(id: string): Promise<Mags.CronJob>;
  cronUpdate(id: string, opts: { enabled?: boolean; name?: string; cronExpression?: string; script?: string; workspaceId?: string; [key: string]: unknown }): Promise<Mags.CronJob>;
  cronDelete(id: string): Promise<Mags.ApiObject>;
  usage(options?: { windowDays?: number } | number): Promise<Mags.Usage>;
}

declare namespace Mags {
  export interface MagsOptions {
    apiToken?: string;
    apiUrl?: string;
    /** Per-request timeout in ms (default 30000). */
    timeout?: number;
  }

  export interface RunOptions {
    name?: string;
    workspaceId?: string;
    baseWorkspaceId?: string;
    persistent?: boolean;
    noSleep?: boolean;
    ephemeral?: boolean;
    startupCommand?: string;
    environment?: Record<string, string>;
    fileIds?: string[];
    diskGb?: number;
    noSync?: boolean;
    /** The job's own timeout in ms (sent as whole seconds; server default 300 s). */
    jobTimeout?: number;
    /** ms a persistent sandbox may be idle before it sleeps (sent as whole
     * seconds, idle_timeout; server default 600 s). */
    jobIdleTimeout?: number;
  }

  export interface RunAndWaitOptions extends RunOptions {
    /** How long to wait in ms (default: until the job ends). */
    timeout?: number;
    /** Longest pause between status polls in ms (default 1000). */
    pollInterval?: number;
  }

  export interface NewOptions {
    persistent?: boolean;
    baseWorkspaceId?: string;
    diskGb?: number;
    /** ms, default 30000 */
    timeout?: number;
    /** ms, default 1000 */
    pollInterval?: number;
    /** ms idle before it sleeps (idle_timeout; server default 600 s) */
    jobIdleTimeout?: number;
  }

  export interface ApiObject {
    [key: string]: any;
  }

  export type JobStatus = 'accepted' | 'running' | 'sleeping' | 'completed' | 'error' | 'stopped';

  export interface SubmitResult extends ApiObject {
    request_id: string;
    requestId: string;
    status: JobStatus;
  }

  export interface Job extends ApiObject {
    request_id: string;
    requestId: string;
    name?: string | null;
    workspace_id?: string | null;
    workspaceId?: string | null;
    status: JobStatus;
    exit_code?: number | null;
    exitCode?: number | null;
    error_message?: string | null;
    errorMessage?: string | null;
    created_at?: string | null;
    createdAt?: string | null;
    started_at?: string | null;
    startedAt?: string | null;
    finished_at?: string | null;
    finishedAt?: string | null;
    duration_ms?: number | null;
    durationMs?: number | null;
  }

  export interface LogRecord {
    message: string;
    source: 'stdout' | 'stderr' | 'system' | string;
    timestamp: string;
    [key: string]: any;
  }

  export interface LogsResult extends ApiObject {
    logs: LogRecord[];
  }

  export interface RunResult extends Job {
    logs: LogRecord[];
  }

  export interface JobList extends ApiObject {
    jobs: Job[];
    page?: number;
    page_size?: number;
    pageSize?: number;
    total?: number;
  }

  export interface ExecResult extends ApiObject {
    exit_code: number;
    exitCode: number;
    output: string;
    stdout?: string;
    stderr?: string;
    duration_ms?: number;
    durationMs?: number;
  }

  export interface AccessResult extends ApiObject {
    url?: string;
    ssh_host?: string;
    sshHost?: string;
    ssh_port?: number;
    sshPort?: number;
    ssh_private_key?: string;
    sshPrivateKey?: string;
  }

  export interface WorkspaceList extends ApiObject {
    workspaces: Array<{ workspace_id: string; job_count?: number; [key: string]: any }>;
  }

  export interface CronCreateOptions {
    name: string;
    cronExpression: string;
    script: string;
    workspaceId?: string;
    [key: string]: unknown;
  }

  export interface CronJob extends ApiObject {
    id: string;
    name?: string;
    cron_expression?: string;
    cronExpression?: string;
    enabled?: boolean;
  }

  export interface CronList extends ApiObject {
    cron_jobs: CronJob[];
    cronJobs: CronJob[];
  }

  export interface Usage extends ApiObject {
    total_jobs: number;
    totalJobs: number;
    vm_seconds: number;
    vmSeconds: number;
  }

  export interface EndEvent extends ApiObject {
    event: 'end';
    status: JobStatus;
    exit_code: number | null;
    error_message: string | null;
  }

  /** API-level error: statusCode is the HTTP status, or null (unreachable, timeout...). */
  export class MagsError extends Error {
    constructor(message: string, statusCode?: number | null, extra?: { code?: string | null; body?: any; requestId?: string | null });
    name: 'MagsError';
    statusCode: number | null;
    readonly status_code: number | null;
    /** The server's machine-readable code, e.g. 'not_found'. */
    code: string | null;
    body: any;
    requestId: string | null;
  }

  /** A job's log records as they are written; `for await (const log of stream)`. */
  export class LogStream implements AsyncIterable<LogRecord> {
    readonly requestId: string;
    /** The final event, once iteration ended. */
    end: EndEvent | null;
    readonly status: JobStatus | null;
    readonly exitCode: number | null;
    readonly errorMessage: string | null;
    [Symbol.asyncIterator](): AsyncGenerator<LogRecord, void, undefined>;
  }

  export interface ExecChunk {
    stream: 'stdout' | 'stderr';
    data: string;
  }

  /** Output of execStream(): `for await (const { stream, data } of s)`. */
  export class ExecStream implements AsyncIterable<ExecChunk> {
    readonly requestId: string;
    /** The final object ({exit_code, duration_ms, ...}), once iteration ended. */
    result: ExecResult | null;
    readonly exitCode: number | null;
    [Symbol.asyncIterator](): AsyncGenerator<ExecChunk, void, undefined>;
  }

  export const DEFAULT_API_URL: string;

  export { Mags, Mags as default };
}

export = Mags;

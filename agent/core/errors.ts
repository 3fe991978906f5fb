/**
 * The one catalogue of pgmesh errors. Code branches on `code` or `instanceof`, never on
 * message text. docs/errors.md lists every code; errors.test.ts checks the two agree.
 */

export type ErrorCode =
  | 'PGMESH_MANIFEST_PARSE'
  | 'PGMESH_MANIFEST_INVALID'
  | 'PGMESH_MANIFEST_NOT_FOUND'
  | 'PGMESH_HOST_SETUP'
  | 'PGMESH_IMAGE_BUILD'
  | 'PGMESH_DOCKER'
  | 'PGMESH_APPLY_FAILED'
  | 'PGMESH_ROLLED_BACK'
  | 'PGMESH_REMOVAL_REFUSED'
  | 'PGMESH_TIMEOUT'
  | 'PGMESH_NOT_DEPLOYED'
  | 'PGMESH_PAUSED'
  | 'PGMESH_UNAUTHORIZED'
  | 'PGMESH_AGENT_CONFIG'
  | 'PGMESH_AGENT_UNREACHABLE'
  | 'PGMESH_LOAD_INPUT'
  | 'PGMESH_LOAD_FAILED'
  | 'PGMESH_CLUSTER_UNKNOWN'
  | 'PGMESH_PLAN_STALE'
  | 'PGMESH_CONFIRMATION_REQUIRED'
  | 'PGMESH_MCP_CONFIG'
  | 'PGMESH_MCP_INPUT'
  | 'PGMESH_MCP_DENIED'
  | 'PGMESH_MCP_RATE_LIMITED'
  | 'PGMESH_MCP_FAILED';

/** One finding of validation: which file, which field (a JSON pointer), and why. */
export interface ManifestProblem {
  file: string;
  field: string;
  reason: string;
}

export class PgmeshError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ManifestInvalidError extends PgmeshError {
  readonly problems: readonly ManifestProblem[];

  constructor(problems: ManifestProblem[]) {
    const lines = problems.map((p) => `  ${p.file}: ${p.field || '(document)'}: ${p.reason}`);
    super(
      'PGMESH_MANIFEST_INVALID',
      `the manifest set is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}); nothing was applied\n${lines.join('\n')}`,
    );
    this.problems = Object.freeze([...problems]);
  }
}

export class HostSetupError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_HOST_SETUP', message, options);
  }
}

export class ImageBuildError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_IMAGE_BUILD', message, options);
  }
}

export class DockerError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_DOCKER', message, options);
  }
}

export class ApplyFailedError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_APPLY_FAILED', message, options);
  }
}

export class RolledBackError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_ROLLED_BACK', message, options);
  }
}

export class RemovalRefusedError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_REMOVAL_REFUSED', message);
  }
}

export class TimeoutError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_TIMEOUT', message);
  }
}

export class NotDeployedError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_NOT_DEPLOYED', message);
  }
}

export class PausedError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_PAUSED', message);
  }
}

export class UnauthorizedError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_UNAUTHORIZED', message);
  }
}

/** A bulk-load input that cannot be read: the file, the line and why. Nothing was sent. */
export class LoadInputError extends PgmeshError {
  readonly file: string;
  readonly line: number;

  constructor(file: string, line: number, reason: string) {
    super(
      'PGMESH_LOAD_INPUT',
      `${file}${line > 0 ? `:${line}` : ''}: ${reason}; nothing was loaded`,
    );
    this.file = file;
    this.line = line;
  }
}

/** A bulk load whose COPY failed on some worker groups; the message says what was loaded. */
export class LoadFailedError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_LOAD_FAILED', message, options);
  }
}

/** A tool's input broke a limit or a rule the schema cannot state (size, dimension). */
export class McpInputError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_MCP_INPUT', message, options);
  }
}

/** The agent may not do this: a namespace it was not given, a tool its McpClient disallows. */
export class McpDeniedError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_MCP_DENIED', message, options);
  }
}

export class McpRateLimitedError extends PgmeshError {
  constructor(message: string) {
    super('PGMESH_MCP_RATE_LIMITED', message);
  }
}

/** The database refused or failed a tool's statement (the SQLSTATE is in the message). */
export class McpFailedError extends PgmeshError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PGMESH_MCP_FAILED', message, options);
  }
}

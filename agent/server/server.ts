import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../core/log.js';
import type { PauseInfo } from '../gate/pause.js';
import { renderHtml } from '../report/html.js';
import type { RevisionHistory } from '../report/history.js';
import type { ReportReader } from '../report/store.js';
import { verifyBearer, verifySignature } from './secrets.js';

/** What the API does to the pause key; `etcdPauseControl` binds it to etcd. */
export interface PauseControl {
  pause(p: { by: string; reason: string }): Promise<PauseInfo>;
  resume(): Promise<boolean>;
}

export interface ServerDeps {
  log: Logger;
  /** Bearer token for every route but /healthz and the webhook (which is signed instead). */
  apiToken: string;
  /** HMAC key of the webhook (X-Hub-Signature-256). */
  webhookSecret: string;
  reports: ReportReader;
  metrics: Registry;
  /** Starts a cycle soon; must not wait for it. */
  trigger: (reason: string) => void;
  pauseControl: PauseControl;
  /** For /healthz: whether this replica leads. */
  isLeader?: () => boolean;
  /** The pause this replica acts on now (its etcd watch), for GET /api/pause. */
  currentPause?: () => PauseInfo | null;
  /** The per-revision history, for GET /api/history. */
  history?: Pick<RevisionHistory, 'list'>;
}

const MAX_HISTORY = 50;

/** Builds the agent's HTTP API; `startServer` listens. Tests call it in-process. */
export function buildServer(deps: ServerDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Requests are not logged wholesale; routes log what matters, never headers.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1 << 20,
  });

  app.get('/healthz', async () => ({ ok: true, leader: deps.isLeader?.() ?? false }));

  // The webhook's signature is computed over the raw bytes: this scope keeps them unparsed.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/api/webhook', async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (!verifySignature(deps.webhookSecret, body, req.headers['x-hub-signature-256'])) {
        deps.log.warn({ route: 'webhook', ip: req.ip }, 'webhook signature rejected');
        return reply.code(401).send({ error: 'PGMESH_UNAUTHORIZED', message: 'bad signature' });
      }
      const event = req.headers['x-github-event'];
      deps.log.info({ route: 'webhook', event }, 'webhook accepted');
      deps.trigger(`webhook${typeof event === 'string' ? `:${event}` : ''}`);
      return reply.code(202).send({ triggered: true });
    });
  });

  void app.register(async (api) => {
    api.addHook('onRequest', async (req, reply) => {
      if (!verifyBearer(deps.apiToken, req.headers.authorization)) {
        deps.log.warn({ route: req.routeOptions.url, ip: req.ip }, 'api request unauthorized');
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer')
          .send({ error: 'PGMESH_UNAUTHORIZED', message: 'a valid bearer token is required' });
      }
    });

    api.get('/api/drift', async (_req, reply) => {
      const latest = await deps.reports.latest();
      if (!latest) return reply.code(404).send({ error: 'no report yet' });
      return latest;
    });

    api.get<{ Querystring: { limit?: string } }>('/api/drift/history', async (req) => {
      const n = Number(req.query.limit ?? MAX_HISTORY);
      const limit = Number.isInteger(n) && n > 0 ? Math.min(n, MAX_HISTORY) : MAX_HISTORY;
      return deps.reports.history(limit);
    });

    api.get<{ Querystring: { limit?: string } }>('/api/history', async (req) => {
      const n = Number(req.query.limit ?? 500);
      const limit = Number.isInteger(n) && n > 0 ? Math.min(n, 5000) : 500;
      return { revisions: deps.history ? await deps.history.list(limit) : [] };
    });

    api.get('/drift', async (_req, reply) => {
      const history = await deps.reports.history(20);
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
        .send(renderHtml(history[0] ?? null, history));
    });

    api.get('/metrics', async (_req, reply) => {
      const text = await deps.metrics.metrics();
      return reply.type(deps.metrics.contentType).send(text);
    });

    api.post<{ Body: { reason?: unknown; by?: unknown } | undefined }>(
      '/api/pause',
      async (req, reply) => {
        const reason = typeof req.body?.reason === 'string' ? req.body.reason.trim() : '';
        if (!reason) return reply.code(400).send({ error: 'a reason is required' });
        const by = typeof req.body?.by === 'string' && req.body.by ? req.body.by : 'api';
        const info = await deps.pauseControl.pause({ by, reason });
        deps.log.warn({ by, reason }, 'paused through the api');
        return info;
      },
    );

    // What this replica's gate sees now, not what the last report said: a pause shows here
    // within the etcd watch's latency, whatever the cycle is doing.
    api.get('/api/pause', async () => ({ paused: deps.currentPause?.() ?? null }));

    api.post('/api/resume', async () => {
      const wasPaused = await deps.pauseControl.resume();
      deps.log.warn({ wasPaused }, 'resumed through the api');
      deps.trigger('resume');
      return { resumed: wasPaused };
    });
  });

  return app;
}

export interface ListenOptions {
  host?: string;
  port?: number;
}

/** Listens and returns the address (port 0 picks a free port). */
export async function startServer(
  app: FastifyInstance,
  options: ListenOptions = {},
): Promise<string> {
  return app.listen({ host: options.host ?? '0.0.0.0', port: options.port ?? 8080 });
}

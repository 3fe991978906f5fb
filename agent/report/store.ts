import type { Etcd3 } from 'etcd3';
import { parseReportSeq, reportKey, reportsPrefix } from '../etcd/keys.js';
import type { DriftReport } from './model.js';
import { scrubSecrets } from './scrub.js';

/** Read side of the reports, as the HTTP server and the CLI need it. */
export interface ReportReader {
  latest(): Promise<DriftReport | null>;
  /** Newest first. */
  history(limit?: number): Promise<DriftReport[]>;
}

export interface ReportWriter {
  save(report: DriftReport): Promise<DriftReport>;
}

export const KEEP_REPORTS = 50;

/** The last `keep` reports in etcd under `/pgmesh/<cluster>/reports/<seq>`. */
export class EtcdReportStore implements ReportReader, ReportWriter {
  constructor(
    private readonly etcd: Etcd3,
    private readonly cluster: string,
    private readonly keep: number = KEEP_REPORTS,
  ) {}

  /** Stores a scrubbed copy under the next sequence number and drops the oldest. */
  async save(report: DriftReport): Promise<DriftReport> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const seq = (await this.#lastSeq()) + 1;
      const stored = scrubSecrets({ ...report, seq });
      const key = reportKey(this.cluster, seq);
      const res = await this.etcd
        .if(key, 'Create', '==', 0)
        .then(this.etcd.put(key).value(JSON.stringify(stored)))
        .commit();
      if (res.succeeded) {
        await this.#trim(seq);
        return stored;
      }
    }
    throw new Error('could not allocate a report sequence number after 5 attempts');
  }

  async latest(): Promise<DriftReport | null> {
    const [r] = await this.history(1);
    return r ?? null;
  }

  async history(limit: number = this.keep): Promise<DriftReport[]> {
    const values = await this.etcd
      .getAll()
      .prefix(reportsPrefix(this.cluster))
      .sort('Key', 'Descend')
      .limit(Math.max(1, limit))
      .strings();
    return Object.values(values)
      .map((v) => JSON.parse(v) as DriftReport)
      .sort((a, b) => b.seq - a.seq);
  }

  async #lastSeq(): Promise<number> {
    const keys = await this.etcd
      .getAll()
      .prefix(reportsPrefix(this.cluster))
      .sort('Key', 'Descend')
      .limit(1)
      .keys();
    return keys[0] ? (parseReportSeq(this.cluster, keys[0]) ?? 0) : 0;
  }

  async #trim(newest: number): Promise<void> {
    const keys = await this.etcd.getAll().prefix(reportsPrefix(this.cluster)).keys();
    for (const key of keys) {
      const seq = parseReportSeq(this.cluster, key);
      if (seq !== null && seq <= newest - this.keep) await this.etcd.delete().key(key);
    }
  }
}

/** Keeps reports in memory: for replicas without etcd access in tests and for `plan`. */
export class MemoryReportStore implements ReportReader, ReportWriter {
  #reports: DriftReport[] = [];
  #seq = 0;

  constructor(private readonly keep: number = KEEP_REPORTS) {}

  async save(report: DriftReport): Promise<DriftReport> {
    const stored = scrubSecrets({ ...report, seq: ++this.#seq });
    this.#reports.unshift(stored);
    this.#reports.length = Math.min(this.#reports.length, this.keep);
    return stored;
  }

  async latest(): Promise<DriftReport | null> {
    return this.#reports[0] ?? null;
  }

  async history(limit: number = this.keep): Promise<DriftReport[]> {
    return this.#reports.slice(0, limit);
  }
}

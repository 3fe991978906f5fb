/**
 * YAML files to plain values. A file may hold several documents separated by `---`; an
 * empty document (a trailing `---`, a file of comments) is skipped, not an error.
 */
import { LineCounter, parseAllDocuments, type YAMLError } from 'yaml';
import type { ManifestProblem } from '../core/errors.js';

export interface ParsedDocument {
  /** Position of the document in its file, from 0, counting empty documents too. */
  index: number;
  value: unknown;
}

export interface ParsedFile {
  documents: ParsedDocument[];
  /** The documents that could not be read; the other documents of the file still are. */
  problems: ManifestProblem[];
  /** Documents in the file, empty ones included (to say "document 2" only when useful). */
  count: number;
}

export function parseYamlFile(file: string, content: string): ParsedFile {
  const lineCounter = new LineCounter();
  // Not pretty: the reason stays one line; where it is goes into `field` as line:col.
  const docs = parseAllDocuments(content, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: ManifestProblem[] = [];
  const toProblem = (e: YAMLError): ManifestProblem => {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    return { file, field: `${line}:${col}`, reason: firstLine(e.message) };
  };
  if ('empty' in docs) {
    return { documents: [], problems: docs.errors.map(toProblem), count: 0 };
  }
  const documents: ParsedDocument[] = [];
  docs.forEach((doc, index) => {
    // Warnings too (an unknown tag, a mapping used as a key): in a GitOps set a value that
    // does not read the way it looks is worse than a rejected set.
    const found = [...doc.errors, ...doc.warnings];
    if (found.length > 0) {
      problems.push(...found.map(toProblem));
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    documents.push({ index, value });
  });
  return { documents, problems, count: docs.length };
}

function firstLine(message: string): string {
  return message.split('\n')[0]?.trim() ?? message;
}

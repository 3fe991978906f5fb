/** One read of the desired state: every file under the manifests path, and what it was. */
export interface Snapshot {
  kind: 'git' | 'folder';
  /** A commit sha (git) or `sha256:<hex>` over the files (folder). */
  revision: string;
  /** Branch (git) or folder path, for reports. */
  ref: string;
  /** Paths relative to the manifests path, `/`-separated, sorted. */
  files: SourceFile[];
  /** The commit's subject line and author (git only), for the per-revision history. */
  commit?: { subject: string; author: string };
}

export interface SourceFile {
  path: string;
  content: string;
}

/** Where manifests come from. `onChange` fires when a new revision may be there. */
export interface Source {
  readonly kind: Snapshot['kind'];
  read(): Promise<Snapshot>;
  /** Returns an unsubscribe function. */
  onChange(cb: () => void): () => void;
  close(): Promise<void>;
}

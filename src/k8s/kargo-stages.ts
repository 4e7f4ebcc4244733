import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { STAGES, type Stage, isStage } from '../stages.ts';
import { callWithDeadline } from './api-call.ts';

export interface DeployedTag {
  imageTag: string;
  /** when the promotion that put it there finished, if Kargo says */
  at: string | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The image tag of a Kargo Stage's current freight (status.freightHistory[0]): the tag of the
 * first image whose repository starts with `repoPrefix` (all images of a freight share the SHA).
 * What cannot be read (a null or malformed entry) is skipped and named in `unreadable`; the rest
 * is still read.
 */
export function currentTagOf(stage: unknown, repoPrefix: string, unreadable: string[] = []): DeployedTag | null {
  const skip = (what: string): null => {
    unreadable.push(what);
    return null;
  };
  const status = isObj(stage) ? stage['status'] : undefined;
  if (status === undefined) return null;
  if (!isObj(status)) return skip('status is not an object');
  const history = status['freightHistory'];
  if (history === undefined || history === null) return null;
  if (!Array.isArray(history)) return skip('status.freightHistory is not a list');
  if (history.length === 0) return null;
  const current: unknown = history[0];
  if (!isObj(current)) return skip('status.freightHistory[0] is not an object');
  const items = current['items'];
  if (items === undefined || items === null) return null;
  if (!isObj(items)) return skip('status.freightHistory[0].items is not an object');
  const lastPromotion = status['lastPromotion'];
  const finishedAt = isObj(lastPromotion) ? lastPromotion['finishedAt'] : undefined;
  for (const [key, ref] of Object.entries(items)) {
    const where = `status.freightHistory[0].items[${JSON.stringify(key)}]`;
    if (!isObj(ref)) {
      unreadable.push(`${where} is not an object`);
      continue;
    }
    const images = ref['images'];
    if (images === undefined || images === null) continue;
    if (!Array.isArray(images)) {
      unreadable.push(`${where}.images is not a list`);
      continue;
    }
    for (const [i, image] of images.entries()) {
      const repoURL = isObj(image) ? (image['repoURL'] ?? '') : undefined;
      if (typeof repoURL !== 'string') {
        unreadable.push(`${where}.images[${i}] ${isObj(image) ? 'has a repoURL that is not a string' : 'is not an object'}`);
        continue;
      }
      const tag = (image as Obj)['tag'];
      if (typeof tag === 'string' && tag !== '' && repoURL.startsWith(repoPrefix)) {
        return { imageTag: tag, at: typeof finishedAt === 'string' ? finishedAt : null };
      }
    }
  }
  return null;
}

/**
 * Polls the Kargo Stages of the project namespace (at most every 30 s) and keeps the tag
 * deployed in each. A failed poll keeps the last good answer and records the error. A Stage
 * with entries that cannot be read is still read from the others; when none of them gives its
 * tag, it keeps its last known one. `onUnreadable` hears of a Stage's unreadable entries once,
 * not at every poll (again only when they change, or after the Stage was read cleanly).
 */
export function createKargoStageReader(opts: {
  kubeConfig: KubeConfig;
  namespace: string;
  pollMs: number;
  timeoutMs: number;
  repoPrefix: string;
  onError?: (err: Error) => void;
  onUnreadable?: (stage: Stage, what: string[]) => void;
}) {
  const api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  let tags: Partial<Record<Stage, DeployedTag>> = {};
  let lastError: Error | null = null;
  let lastSuccess: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;
  /** stage → what was last reported unreadable in it */
  let reported = new Map<Stage, string>();

  // one list at a time: with a poll interval shorter than the API deadline (1 s and 2000 ms), an
  // interval would otherwise start a second list while the first is on its way, and a slow, older
  // answer landing after a newer one would put the stale tags back. A poll asked for while one
  // is in flight gets that one.
  const poll = (): Promise<void> => {
    inFlight ??= pollOnce().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };

  const pollOnce = async (): Promise<void> => {
    try {
      const list = (await callWithDeadline('list Kargo Stages', opts.kubeConfig, opts.timeoutMs, (options) =>
        api.listNamespacedCustomObject({ group: 'kargo.akuity.io', version: 'v1alpha1', namespace: opts.namespace, plural: 'stages' }, options),
      )) as { items?: unknown };
      if (!list || !Array.isArray(list.items)) throw new Error('list Kargo Stages: the answer has no items');
      const next: Partial<Record<Stage, DeployedTag>> = {};
      const unreadable = new Map<Stage, string[]>();
      for (const item of list.items as unknown[]) {
        const metadata = isObj(item) ? item['metadata'] : undefined;
        const name = isObj(metadata) ? metadata['name'] : undefined;
        if (typeof name !== 'string' || !isStage(name)) continue;
        const skipped: string[] = [];
        const tag = currentTagOf(item, opts.repoPrefix, skipped);
        if (skipped.length > 0) unreadable.set(name, skipped);
        if (tag) next[name] = tag;
        else if (skipped.length > 0 && tags[name]) next[name] = tags[name];
      }
      tags = next;
      const nowReported = new Map<Stage, string>();
      for (const [name, skipped] of unreadable) {
        const key = skipped.join('\n');
        nowReported.set(name, key);
        if (reported.get(name) !== key) opts.onUnreadable?.(name, skipped);
      }
      reported = nowReported;
      lastError = null;
      lastSuccess = Date.now();
    } catch (err) {
      lastError = err as Error;
      opts.onError?.(lastError);
    }
  };

  return {
    /** Polls now and then every pollMs; resolves after the first poll. */
    async start(): Promise<void> {
      await poll();
      timer = setInterval(() => void poll(), opts.pollMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
    poll,
    tags: (): Partial<Record<Stage, DeployedTag>> => tags,
    health: () => ({ lastError: lastError?.message ?? null, lastSuccess: lastSuccess === null ? null : new Date(lastSuccess).toISOString() }),
    stages: STAGES,
  };
}

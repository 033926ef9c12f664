/**
 * At-least-once HTTP delivery as Google's push systems do it (Eventarc to a function, Pub/Sub to a push
 * endpoint): POST, and on anything but a 2xx (or no answer) try again after an exponentially growing delay,
 * up to a bound. Deliveries run in the background and are tracked, so an emulator's close() can stop them.
 */
import type { Logger } from '../../shared/log.ts';

export interface RetryPolicy {
  /** Total attempts per delivery, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Per attempt; an attempt that takes longer counts as failed. */
  timeoutMs: number;
}

export interface DeliveryOutcome {
  delivered: boolean;
  attempts: number;
  /** HTTP status of the last attempt, absent when it got no answer. */
  status?: number;
}

export interface HttpDelivery {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The delay before retry number `retry` (1-based): initial * multiplier^(retry-1), capped. */
export function backoffDelay(policy: RetryPolicy, retry: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** (retry - 1));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export async function postWithRetry(
  delivery: HttpDelivery,
  policy: RetryPolicy,
  signal: AbortSignal,
  log: Logger,
): Promise<DeliveryOutcome> {
  let status: number | undefined;
  let made = 0;
  for (let attempt = 1; attempt <= policy.attempts && !signal.aborted; attempt++) {
    if (attempt > 1) await sleep(backoffDelay(policy, attempt - 1), signal);
    if (signal.aborted) break;
    made = attempt;
    try {
      const res = await fetch(delivery.url, {
        method: 'POST',
        headers: delivery.headers,
        body: delivery.body,
        signal: AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutMs)]),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { delivered: true, attempts: attempt, status };
      log.debug('delivery refused, will retry', { url: delivery.url, status, attempt });
    } catch (err) {
      status = undefined;
      if (signal.aborted) break;
      log.debug('delivery failed, will retry', { url: delivery.url, attempt, err });
    }
    if (attempt === policy.attempts) {
      log.warn('delivery abandoned after the last attempt', { url: delivery.url, attempts: attempt, status });
    }
  }
  return { delivered: false, attempts: made, ...(status === undefined ? {} : { status }) };
}

/** Runs deliveries in the background; `stop()` aborts the pending ones and waits for them to settle. */
export class DeliveryQueue {
  readonly #controller = new AbortController();
  readonly #pending = new Set<Promise<DeliveryOutcome>>();

  constructor(
    private readonly policy: RetryPolicy,
    private readonly log: Logger,
  ) {}

  /** `signal` stops this delivery alone (e.g. its subscription was deleted); stop() stops all of them. */
  send(delivery: HttpDelivery, policy: RetryPolicy = this.policy, signal?: AbortSignal): Promise<DeliveryOutcome> {
    const stop = signal ? AbortSignal.any([this.#controller.signal, signal]) : this.#controller.signal;
    const p = postWithRetry(delivery, policy, stop, this.log);
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
    return p;
  }

  get stopped(): boolean {
    return this.#controller.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await Promise.allSettled([...this.#pending]);
  }
}

/** Who is calling: what the rate limit keys on, and whether a request is the in-instance monitoring sidecar. */
import type { FastifyRequest } from 'fastify';

/**
 * The client's address as Google's front end saw it: the last X-Forwarded-For entry (earlier entries are whatever
 * the client sent, and could be forged to dodge the limit), else the socket's peer.
 */
export function clientAddress(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-for'];
  const last = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',').pop()?.trim();
  return last || request.socket.remoteAddress || 'unknown';
}

/** A request from this machine that no proxy forwarded: the monitoring sidecar in the same Cloud Run instance. */
export function isLocalUnproxied(request: FastifyRequest): boolean {
  const peer = request.socket.remoteAddress ?? '';
  return request.headers['x-forwarded-for'] === undefined && /^(127\.|::1$|::ffff:127\.)/.test(peer);
}

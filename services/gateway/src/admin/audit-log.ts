import type { FastifyRequest } from 'fastify';
import { AppError, type ErrorCode } from '@imagehost/errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The admin action a route performs, for the audit line of a request its schema refuses. */
    audit?: string;
  }
}

/** What an audit line records of one admin action. Only these fields: never a capability key. */
export interface AuditFacts {
  /** What was asked, e.g. `takedown`, `restore`, `blocklist.add`. */
  readonly action: string;
  readonly imageKey?: string | undefined;
  /** The operator's stated reason (takedown reasons: legal, copyright, abuse, csam, other). */
  readonly reason?: string | undefined;
  /** Further plain facts of the action (a hash, a count), never a secret. */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

/** How an action ended: done, refused with a contract code, or failed unexpectedly. */
export type AuditOutcome = { readonly outcome: 'ok' } | { readonly outcome: 'refused' | 'failed'; readonly code: ErrorCode };

/** The one structured line per admin action; `audit: true` lets a log pipeline route them apart. */
export function writeAuditLine(request: FastifyRequest, facts: AuditFacts, outcome: AuditOutcome): void {
  const { action, imageKey, reason, detail } = facts;
  request.log.info({ audit: true, action, imageKey, reason, requestId: request.id, ...outcome, ...(detail === undefined ? {} : { detail }) }, 'admin action');
}

/**
 * Runs one admin action and writes its audit line whatever happens: `ok`, `refused` (an
 * AppError below 500, its code) or `failed`. The action's result or error passes through.
 */
export async function audited<T>(request: FastifyRequest, facts: AuditFacts, action: () => Promise<T>): Promise<T> {
  try {
    const result = await action();
    writeAuditLine(request, facts, { outcome: 'ok' });
    return result;
  } catch (error) {
    const code: ErrorCode = error instanceof AppError ? error.code : 'INTERNAL';
    const refused = error instanceof AppError && error.statusCode < 500;
    writeAuditLine(request, facts, { outcome: refused ? 'refused' : 'failed', code });
    throw error;
  }
}

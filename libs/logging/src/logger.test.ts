import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { loggerOptions } from './index.js';

describe('service logger', () => {
  it('never writes a capability key, wherever a careless call puts it', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const log = pino(loggerOptions('test', 'info'), sink);
    const secret = 'Zq_4ElZHkkeKhYM9IvxiZBM0iccFGU_Mg1xY89PsfAE';
    log.info({ req: { headers: { 'x-update-key': secret, 'x-delete-key': secret, 'idempotency-key': secret } } }, 'request');
    log.info({ delete_key: secret, update_key: secret, body: { delete_key: secret }, deleteKey: secret }, 'body');
    log.info({ imageKey: 'KHsTE4Qn2OyoDd88' }, 'kept');
    const output = lines.join('');
    expect(output).not.toContain(secret);
    expect(output).toContain('[redacted]');
    expect(output).toContain('KHsTE4Qn2OyoDd88');
    expect(JSON.parse(lines[2] ?? '{}')).toMatchObject({ service: 'test', imageKey: 'KHsTE4Qn2OyoDd88', msg: 'kept' });
  });
});

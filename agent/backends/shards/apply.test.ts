import { describe, expect, it } from 'vitest';
import { errorText } from './apply.js';

describe('errorText', () => {
  it("keeps a PostgreSQL error's detail (dblink puts libpq's reason there)", () => {
    const err = Object.assign(new Error('could not establish connection'), {
      detail: 'connection to server at "10.0.1.9", port 5432 failed: Connection refused',
    });
    expect(errorText(err)).toBe(
      'could not establish connection (connection to server at "10.0.1.9", port 5432 failed: Connection refused)',
    );
    expect(errorText(new Error('plain'))).toBe('plain');
  });
});

import { describe, expect, it } from 'vitest';
import schema from '../../../schemas/patroni-config.schema.json' with { type: 'json' };
import { PARAMETERS, parameterSchema } from './params.js';

describe('schemas/patroni-config.schema.json', () => {
  it('lists exactly the parameters of params.ts, with the same types', () => {
    const inSchema = schema.properties.spec.properties.postgresql.properties.parameters.properties;
    const expected = Object.fromEntries(
      Object.entries(PARAMETERS).map(([name, spec]) => [name, parameterSchema(name, spec)]),
    );
    expect(inSchema).toEqual(expected);
  });
});

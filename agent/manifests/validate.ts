/**
 * JSON Schema validation of one document, and the translation of ajv's findings into plain
 * words a user can act on: which field, and why.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { FieldProblem, KindDefinition } from './kinds.js';

/**
 * Validators are compiled once per registry and kept: compiling costs milliseconds per
 * schema and the agent validates every cycle. A cache, not a client: it holds no I/O.
 */
const compiled = new WeakMap<readonly KindDefinition[], Map<string, ValidateFunction>>();

/** Compiles every kind's schema (once per registry) and returns the validators by kind. */
export function validatorsFor(kinds: readonly KindDefinition[]): Map<string, ValidateFunction> {
  let validators = compiled.get(kinds);
  if (!validators) {
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, verbose: true, strict: true });
    // Our annotation: the plain-words reason shown when a `pattern` does not match.
    ajv.addKeyword({ keyword: 'patternReason', schemaType: 'string' });
    validators = new Map(kinds.map((k) => [k.kind, ajv.compile(k.schema)]));
    compiled.set(kinds, validators);
  }
  return validators;
}

/**
 * Validates `value` against its kind's schema, filling defaults into `value` in place.
 * Returns every problem found (empty when valid).
 */
export function validateDocument(validate: ValidateFunction, value: unknown): FieldProblem[] {
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  // A value of the wrong type also fails its enum or const; the type is the one to say.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return errors
    .filter((e) => e.keyword === 'type' || !wrongType.has(e.instancePath))
    .map(describeAjvError);
}

export function describeAjvError(error: ErrorObject): FieldProblem {
  const path = error.instancePath;
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as Record<string, unknown>;
  const got = `, got ${describeValue(error.data)}`;
  switch (error.keyword) {
    case 'additionalProperties': {
      const name = String(params.additionalProperty);
      const known = Object.keys((parent.properties ?? {}) as object);
      const hint = known.length > 0 ? ` (known fields: ${known.join(', ')})` : '';
      return { field: `${path}/${escapePointer(name)}`, reason: `unknown field "${name}"${hint}` };
    }
    case 'required': {
      const name = String(params.missingProperty);
      return { field: `${path}/${escapePointer(name)}`, reason: `required field "${name}" is missing` };
    }
    case 'type':
      return { field: path, reason: `must be ${typeWords(String(params.type))}${got}` };
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      return { field: path, reason: `must be one of ${allowed.join(', ')}${got}` };
    }
    case 'const':
      return { field: path, reason: `must be ${JSON.stringify(params.allowedValue)}${got}` };
    case 'pattern': {
      const words =
        typeof parent.patternReason === 'string'
          ? parent.patternReason
          : `must match the pattern ${String(params.pattern)}`;
      return { field: path, reason: `${words}${got}` };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { field: path, reason: `${rangeWords(error.keyword, parent, params)}${got}` };
    case 'minLength':
      return {
        field: path,
        reason:
          params.limit === 1
            ? 'must not be empty'
            : `must be at least ${String(params.limit)} characters long${got}`,
      };
    case 'maxLength':
      return { field: path, reason: `must be at most ${String(params.limit)} characters long${got}` };
    case 'minItems':
      return { field: path, reason: `must have at least ${String(params.limit)} entries` };
    case 'maxItems':
      return { field: path, reason: `must have at most ${String(params.limit)} entries` };
    case 'uniqueItems':
      return {
        field: path,
        reason: `must not repeat entries (entries ${String(params.j)} and ${String(params.i)} are the same)`,
      };
    default:
      return { field: path, reason: error.message ?? `fails the schema's "${error.keyword}" rule` };
  }
}

function rangeWords(
  keyword: string,
  parent: Record<string, unknown>,
  params: Record<string, unknown>,
): string {
  const noun = parent.type === 'integer' ? 'an integer' : 'a number';
  if (typeof parent.minimum === 'number' && typeof parent.maximum === 'number') {
    return `must be ${noun} from ${parent.minimum} to ${parent.maximum}`;
  }
  const sign = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[
    keyword
  ];
  return `must be ${noun} ${sign ?? String(params.comparison)} ${String(params.limit)}`;
}

function typeWords(type: string): string {
  const words: Record<string, string> = {
    integer: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    object: 'a mapping (key: value lines)',
    array: 'a list',
    null: 'empty',
  };
  return type
    .split(',')
    .map((t) => words[t] ?? t)
    .join(' or ');
}

/** How a YAML value reads back to its author, for "got ..." in reasons. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
      return `${JSON.stringify(shown)} (a string)`;
    }
    case 'number':
      return String(value);
    case 'boolean':
      return String(value);
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/** RFC 6901: '~' and '/' inside a key are escaped in a JSON pointer. */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

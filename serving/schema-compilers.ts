import fastJson from 'fast-json-stringify';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { validatorCompiler as zodValidatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';

// How requests are checked and answers written, from the routes' zod schemas.
//
// Requests: zod, as fastify-type-provider-zod does, except that a headers schema reads only the headers it
// declares. Parsing every header a client sent (a loose object) cost more than the rest of the request's
// validation, and a parsed copy of all of them made each later read of request.headers copy them again.
//
// Answers: written by a serializer compiled once per route and status from the schema's JSON Schema
// (fast-json-stringify), instead of checking each answer against its zod schema and then JSON.stringify: the
// routes build their answers from typed values, which the type checker holds to the schema. What the schema does
// not name is left out, as zod's check left it out; a required member missing fails the answer (500).

export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = (route) => {
  const validate = zodValidatorCompiler(route);
  if (route.httpPart !== 'headers' || !(route.schema instanceof z.ZodObject)) {
    return validate;
  }
  const names = Object.keys(route.schema.shape);
  return (headers: unknown) => {
    const received = (headers ?? {}) as Record<string, unknown>;
    const declared: Record<string, unknown> = {};
    let given = false;
    for (const name of names) {
      const value = received[name];
      if (value !== undefined) {
        declared[name] = value;
        given = true;
      }
    }
    const result = validate(declared) as { error?: Error | FastifySchemaValidationError[]; value?: unknown };
    // Valid and nothing declared was sent: request.headers stays the object the server received.
    if (!given && result.error === undefined) return { value: undefined };
    // fastify lays the parsed values over the received headers (request.headers reads both).
    return result;
  };
};

export const serializerCompiler: FastifySerializerCompiler<z.ZodType> = ({ schema, method, url }) => {
  let jsonSchema: Record<string, unknown>;
  try {
    jsonSchema = z.toJSONSchema(schema, { io: 'output', target: 'draft-7', unrepresentable: 'throw' });
  } catch (error) {
    throw new Error(`the response schema of ${method} ${url} has no JSON Schema: ${String(error)}`, {
      cause: error,
    });
  }
  return fastJson(jsonSchema);
};

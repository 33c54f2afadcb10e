import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { type ErrorCode, isSupernetError } from '../src/errors.ts';
import type { Problem } from './schemas.ts';
import { ServingError, type ServingErrorCode } from './serving-error.ts';

// The one table from error codes (src's and serving's) to HTTP statuses.
export const STATUS_BY_CODE: Readonly<Record<ErrorCode | ServingErrorCode, number>> = {
  // serving
  INVALID_REQUEST: 400,
  WRONG_INPUT_KIND: 400,
  INVALID_BUDGET: 400,
  CONFLICTING_BUDGET: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNKNOWN_MODEL: 404,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_TEXTS: 413,
  TEXT_TOO_LONG: 413,
  TOO_MANY_TOKENS: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  BUDGET_UNSATISFIABLE: 422,
  NOT_READY: 503,
  OVERLOADED: 503,
  BUDGET_NOT_MET_NOW: 503,
  SHUTTING_DOWN: 503,
  INTERNAL: 500,
  // model and subnet configs: a pinned subnet id from a client
  INVALID_SUBNET_ID: 400,
  UNKNOWN_SUBNET: 400,
  INVALID_INPUT: 400,
  INVALID_SUPERNET_CONFIG: 500,
  INVALID_SUBNET: 500,
  SUBNET_OUT_OF_RANGE: 500,
  MISSING_WEIGHT: 500,
  UNEXPECTED_WEIGHT: 500,
  WEIGHT_SHAPE_MISMATCH: 500,
  // engines: a disposed subnet or an unavailable runtime is transient (a reload, a worker restart)
  BACKEND_UNAVAILABLE: 503,
  ENGINE_UNAVAILABLE: 503,
  ENGINE_FAILED: 500,
  SUBNET_DISPOSED: 503,
  CACHE_BUDGET_EXCEEDED: 503,
  // tokenizer
  INVALID_VOCABULARY: 500,
  INVALID_TOKENIZER_OPTIONS: 500,
  // artifact and storage: only while loading, never from a request
  MALFORMED_MANIFEST: 503,
  UNSUPPORTED_FORMAT_VERSION: 503,
  CHECKSUM_MISMATCH: 503,
  TRUNCATED_FILE: 503,
  ARTIFACT_NOT_FOUND: 503,
  INVALID_ARTIFACT: 503,
  VERSION_EXISTS: 500,
  MALFORMED_CHECKPOINT: 500,
  UNSUPPORTED_CHECKPOINT: 500,
  INVALID_STORAGE_URI: 503,
  OBJECT_NOT_FOUND: 503,
  ACCESS_DENIED: 503,
  BUCKET_NOT_FOUND: 503,
  STORAGE_UNAVAILABLE: 503,
  INVALID_KEY: 500,
};

const TITLES: Partial<Record<ErrorCode | ServingErrorCode, string>> = {
  INVALID_REQUEST: 'Malformed request',
  WRONG_INPUT_KIND: 'Wrong kind of input for this model',
  INVALID_BUDGET: 'Invalid budget',
  CONFLICTING_BUDGET: 'Conflicting budgets',
  NOT_FOUND: 'Not found',
  METHOD_NOT_ALLOWED: 'Method not allowed',
  UNKNOWN_MODEL: 'Unknown model',
  UNKNOWN_SUBNET: 'Unknown subnet',
  INVALID_SUBNET_ID: 'Invalid subnet id',
  PAYLOAD_TOO_LARGE: 'Request body too large',
  TOO_MANY_TEXTS: 'Too many texts',
  TEXT_TOO_LONG: 'Text too long',
  TOO_MANY_TOKENS: 'Too many tokens',
  UNSUPPORTED_MEDIA_TYPE: 'Unsupported media type',
  BUDGET_UNSATISFIABLE: 'Budget cannot be met',
  NOT_READY: 'Not ready',
  OVERLOADED: 'Overloaded',
  BUDGET_NOT_MET_NOW: 'Budget cannot be met now',
  SHUTTING_DOWN: 'Shutting down',
  INTERNAL: 'Internal error',
};

// Fastify's own client errors that have a code of ours.
const FASTIFY_CODES: Record<string, ServingErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

const DEFAULT_RETRY_AFTER_S = 1;

// The routes in Hugging Face's and text-embeddings-inference's shapes, whose clients read `error`.
const HF_ROUTE = '/models/:model';
const TEI_ROUTES = new Set(['/predict', '/info']);

// TEI's error_type for a problem: validation (bad input), overloaded, unhealthy (not ready), backend.
function teiErrorType(code: ErrorCode | ServingErrorCode, status: number): string {
  if (code === 'OVERLOADED' || code === 'BUDGET_NOT_MET_NOW') return 'overloaded';
  if (code === 'NOT_READY' || code === 'SHUTTING_DOWN') return 'unhealthy';
  return status < 500 ? 'validation' : 'backend';
}

// A problem+json answer: its status, body and headers.
export interface ProblemAnswer {
  status: number;
  body: Problem;
  retryAfterS: number | undefined;
}

// Maps any error to a problem answer: named errors by code, schema validation to 400, fastify's client
// errors by their status, anything else to 500 (whose detail does not leak internals).
export function toProblem(error: unknown, request: FastifyRequest): ProblemAnswer {
  let code: ErrorCode | ServingErrorCode;
  let status: number;
  let detail: string;
  let retryAfterS: number | undefined;
  if (error instanceof ServingError || isSupernetError(error)) {
    code = error.code;
    status = STATUS_BY_CODE[code];
    detail = error.message;
    if (error instanceof ServingError) retryAfterS = error.retryAfterS;
  } else if (hasZodFastifySchemaValidationErrors(error)) {
    const part = (error as { validationContext?: string }).validationContext ?? 'body';
    code = part === 'headers' ? 'INVALID_BUDGET' : 'INVALID_REQUEST';
    status = 400;
    const issue = error.validation[0];
    const path = issue?.instancePath ? issue.instancePath.replace(/^\//, '').replaceAll('/', '.') : '';
    detail = `${part}${path ? `.${path}` : ''}: ${issue?.message ?? 'invalid'}`;
  } else {
    const fastifyError = error as Partial<FastifyError>;
    const fastifyStatus = fastifyError.statusCode;
    if (fastifyStatus !== undefined && fastifyStatus >= 400 && fastifyStatus < 500) {
      code = FASTIFY_CODES[fastifyError.code ?? ''] ?? 'INVALID_REQUEST';
      status = fastifyStatus;
      detail = describeClientError(fastifyError, request);
    } else {
      code = 'INTERNAL';
      status = 500;
      detail = `internal error (request ${request.id}); see the server log`;
    }
  }
  if (status === 503 && retryAfterS === undefined) retryAfterS = DEFAULT_RETRY_AFTER_S;
  const body: Problem = {
    type: `urn:elastic-supernet:problem:${code.toLowerCase().replaceAll('_', '-')}`,
    title: TITLES[code] ?? code,
    status,
    detail,
    instance: request.url.slice(0, 2048),
    code,
    requestId: String(request.id),
  };
  // The Open Inference Protocol's and Hugging Face's error shape is { error } (TEI's adds error_type): kept as
  // extension members on their routes.
  const route = request.routeOptions.url;
  if (request.url.startsWith('/v2/') || route === HF_ROUTE) body.error = detail;
  if (route !== undefined && TEI_ROUTES.has(route)) {
    body.error = detail;
    body.error_type = teiErrorType(code, status);
  }
  return { status, body, retryAfterS };
}

// The detail of one of fastify's client errors, saying what the server takes where fastify's own message does not.
function describeClientError(error: Partial<FastifyError>, request: FastifyRequest): string {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    const limit = request.routeOptions.bodyLimit;
    return `the request body is larger than the ${limit} bytes allowed (MAX_BODY_BYTES)`;
  }
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    const type = request.headers['content-type'];
    return type === undefined || type.trim() === ''
      ? 'the request has a body but no Content-Type: send it as application/json'
      : `Content-Type ${JSON.stringify(type.slice(0, 100))} is not accepted: send the body as application/json`;
  }
  return error.message ?? 'bad request';
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

// Sends a problem answer (application/problem+json, Retry-After on 503).
export function sendProblem(reply: FastifyReply, answer: ProblemAnswer): FastifyReply {
  if (answer.retryAfterS !== undefined) reply.header('retry-after', String(answer.retryAfterS));
  return reply
    .code(answer.status)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .serializer(JSON.stringify)
    .send(answer.body);
}

// Installs the single error handler and the not-found handler (405 with Allow when the path has routes for other
// methods). Bodies are JSON only: fastify's text/plain parser is removed, so a JSON body sent as text/plain is a
// 415 that names the accepted type rather than a string the schema refuses.
export function installErrorHandler(
  app: FastifyInstance,
  onProblem?: (answer: ProblemAnswer, request: FastifyRequest) => void,
): void {
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((error, request, reply) => {
    const answer = toProblem(error, request);
    if (answer.status >= 500 && answer.body.code === 'INTERNAL') {
      request.log.error({ err: error }, 'unexpected error');
    } else {
      request.log.debug({ code: answer.body.code, status: answer.status }, answer.body.detail);
    }
    onProblem?.(answer, request);
    return sendProblem(reply, answer);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const allowed = METHODS.filter(
      (method) => method !== request.method && app.findRoute({ method, url: path }) !== null,
    );
    const url = request.url.slice(0, 256);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(
        reply,
        toProblem(
          new ServingError(
            'METHOD_NOT_ALLOWED',
            `${request.method} is not allowed on ${url}; it takes ${allowed.join(', ')}`,
          ),
          request,
        ),
      );
    }
    return sendProblem(
      reply,
      toProblem(new ServingError('NOT_FOUND', `no route ${request.method} ${url}`), request),
    );
  });
}

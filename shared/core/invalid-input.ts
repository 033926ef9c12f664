/**
 * The core's one domain error: a pure computation was handed input that breaks its precondition (an empty
 * sample, a row of the wrong width). It carries no HTTP status and no catalogue code: what it means for a caller
 * is decided at the edge that passed the input (the service and the functions answer BAD_REQUEST).
 */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}

export function isInvalidInput(err: unknown): err is InvalidInputError {
  return err instanceof InvalidInputError;
}
